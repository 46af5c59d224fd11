// The self-signed certificate of a new instance, made with libcrypto so
// `sluice init` needs no openssl command: EC P-256 key, SHA-256 signature,
// valid ten years, CN and subjectAltName naming the host and the mail domain.
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>

#include "admin/cli/cli.hpp"

namespace sluice::cli {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

bool add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// Writes with mode MODE through a FILE* so PEM_write_* can use it.
bool write_pem(const std::string& path, int mode, const std::function<bool(FILE*)>& fn) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return false;
  FILE* f = fdopen(fd, "w");
  if (!f) {
    ::close(fd);
    return false;
  }
  bool ok = fn(f);
  ok = (fflush(f) == 0) && ok && fsync(fileno(f)) == 0;
  return (fclose(f) == 0) && ok;
}

X509Ptr build_cert(EVP_PKEY* key, const std::string& hostname, const std::string& domain) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) return nullptr;
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return nullptr;
  serial[0] &= 0x7f;  // a positive INTEGER
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  if (!ok) return nullptr;
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 86400 + 2 * 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key) != 1)
    return nullptr;
  std::string san = "DNS:" + hostname;
  if (domain != hostname) san += ",DNS:" + domain;
  if (!add_ext(cert.get(), NID_subject_alt_name, san) || !add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), NID_ext_key_usage, "serverAuth"))
    return nullptr;
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0) return nullptr;
  return cert;
}

}  // namespace

Status make_self_signed(const std::string& cert_path, const std::string& key_path, const std::string& hostname,
                        const std::string& domain) {
  PKeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Status::temp("4.3.0", "cannot generate an EC P-256 key");
  X509Ptr cert = build_cert(key.get(), hostname, domain);
  if (!cert) return Status::temp("4.3.0", "cannot build the certificate");
  if (!write_pem(key_path, 0600, [&](FILE* f) {
        return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
      }))
    return Status::temp("4.3.0", "cannot write " + key_path);
  if (!write_pem(cert_path, 0644, [&](FILE* f) { return PEM_write_X509(f, cert.get()) == 1; }))
    return Status::temp("4.3.0", "cannot write " + cert_path);
  return Status::ok();
}

}  // namespace sluice::cli
