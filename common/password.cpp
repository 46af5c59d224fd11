// crypt(3) hashing through libxcrypt's reentrant, allocating API
// (crypt_ra / crypt_gensalt_ra): no static buffers, safe in threads.
#include "common/password.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>

namespace sluice::password {

namespace {

// crypt_ra allocates; this frees it whatever path we leave by.
struct CryptBuf {
  void* data = nullptr;
  int size = 0;
  ~CryptBuf() {
    if (data) {
      explicit_bzero(data, static_cast<size_t>(size));
      std::free(data);
    }
  }
};

// Runs crypt on a NUL-terminated copy of PW. Returns "" on failure
// (libxcrypt returns a "*"-prefixed failure token or null).
std::string run_crypt(std::string_view pw, const char* setting) {
  std::string phrase(pw);
  CryptBuf buf;
  const char* out = crypt_ra(phrase.c_str(), setting, &buf.data, &buf.size);
  explicit_bzero(phrase.data(), phrase.size());
  if (!out || out[0] == '*' || out[0] == '\0') return {};
  return out;
}

}  // namespace

std::string hash_with(std::string_view pw, const char* prefix) {
  // A NUL in a password would silently truncate it in crypt(3).
  if (pw.find('\0') != std::string_view::npos) return {};
  char* salt = crypt_gensalt_ra(prefix, 0, nullptr, 0);
  if (!salt) return {};
  std::string out = run_crypt(pw, salt);
  std::free(salt);
  return out;
}

std::string hash(std::string_view pw) { return hash_with(pw, "$y$"); }

// Schemes we accept from the table: the strong ones libxcrypt and Dovecot
// share. Legacy DES/MD5 hashes are refused rather than silently trusted.
static bool accepted_scheme(std::string_view h) {
  for (std::string_view p : {"$y$", "$gy$", "$7$", "$6$", "$5$", "$2b$", "$2y$", "$2a$"})
    if (h.substr(0, p.size()) == p) return true;
  return false;
}

bool verify(std::string_view pw, std::string_view stored) {
  if (!accepted_scheme(stored)) return false;  // also "", "!", "*"
  if (stored.find('\0') != std::string_view::npos) return false;
  if (pw.find('\0') != std::string_view::npos) return false;
  std::string setting(stored);
  std::string computed = run_crypt(pw, setting.c_str());
  if (computed.empty() || computed.size() != stored.size()) return false;
  return CRYPTO_memcmp(computed.data(), stored.data(), stored.size()) == 0;
}

}  // namespace sluice::password
