// `sluice init DIR --domain D [--hostname H]`: a self-contained instance
// (DESIGN.md "Instance and the two commands"). Everything is checked before
// the first file is written; a failure half-way removes what was made, so a
// refused init leaves DIR as it was.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "admin/cli/cli.hpp"
#include "common/address.hpp"
#include "common/fd.hpp"
#include "common/tables.hpp"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;

const char* kInitUsage = "usage: sluice init DIR --domain DOMAIN [--hostname HOST]\n";

std::string system_hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

bool holds_instance(const fs::path& dir) {
  std::error_code ec;
  for (const char* p : {"etc/sluice.toml", "queue", "db/sluice.db", "mail"})
    if (fs::exists(dir / p, ec)) return true;
  return false;
}

// Removes what a failed init made: DIR itself when it did not exist before,
// else only the entries init creates.
struct Undo {
  fs::path dir;
  bool dir_was_new = false;
  bool armed = true;
  ~Undo() {
    if (!armed) return;
    std::error_code ec;
    if (dir_was_new) {
      fs::remove_all(dir, ec);
      return;
    }
    for (const char* p : {"etc", "queue", "mail", "db", "run", "log"}) fs::remove_all(dir / p, ec);
  }
};

Status make_tree(const fs::path& root, const std::string& hostname, const std::string& domain) {
  std::string r = root.string();
  for (const char* d : {"etc/tls", "mail", "db", "run", "log"})
    if (!make_dirs(r + "/" + d, 0755)) return Status::temp("4.3.0", "cannot create " + r + "/" + d);
  ::chmod((r + "/mail").c_str(), 0700);  // mailboxes are nobody else's business
  if (!write_file_atomic(r + "/etc/sluice.toml", config_template(hostname), 0644))
    return Status::temp("4.3.0", "cannot write " + r + "/etc/sluice.toml");
  Status st = make_self_signed(r + "/etc/tls/cert.pem", r + "/etc/tls/key.pem", hostname, domain);
  if (!st.is_ok()) return st;
  auto cfg = Config::load(r + "/etc/sluice.toml");
  if (!cfg) return Status::temp("4.3.0", "the written configuration does not load: " + cfg.error().text);
  st = queue::create_layout(cfg->path("queue.dir"));
  if (!st.is_ok()) return Status::temp("4.3.0", "queue: " + st.text);
  auto tables = tables::open_tables(*cfg, true);
  if (!tables) return tables.error();
  st = (*tables)->add_domain(domain);
  if (!st.is_ok()) return st;
  // postmaster@D receives bounces and abuse reports; without a password it
  // cannot log in until the admin sets one (sluice user passwd).
  return (*tables)->add_user(tables::User{"postmaster@" + domain, "", -1});
}

}  // namespace

int cmd_init(const Args& args) {
  Opts o;
  std::string err;
  if (!parse_opts(args, {{"--domain", true}, {"--hostname", true}}, o, err)) {
    std::fputs(("sluice: " + err + "\n").c_str(), stderr);
    return usage(kInitUsage);
  }
  if (o.positional.size() != 1 || !o.has("--domain")) return usage(kInitUsage);
  std::string domain = addr::lower_ascii(o.get("--domain"));
  std::string hostname = o.has("--hostname") ? addr::lower_ascii(o.get("--hostname")) : system_hostname();
  if (Status st = addr::check_domain(domain, false); !st.is_ok() || domain.empty() || domain[0] == '[')
    return fail("invalid domain '" + domain + "': " + st.text);
  if (Status st = addr::check_domain(hostname, false); !st.is_ok() || hostname.empty() || hostname[0] == '[')
    return fail("invalid hostname '" + hostname + "': " + st.text + " (give one with --hostname)");

  std::error_code ec;
  fs::path dir = fs::absolute(o.positional[0], ec).lexically_normal();
  if (ec) return fail("cannot resolve " + o.positional[0] + ": " + ec.message());
  if (dir.has_filename() == false) dir = dir.parent_path();
  bool dir_is_new = !fs::exists(dir, ec);
  if (!dir_is_new) {
    if (!fs::is_directory(dir, ec)) return fail(dir.string() + " exists and is not a directory");
    if (holds_instance(dir)) return fail(dir.string() + " already holds an instance (etc/, queue/, db/ or mail/)");
  }
  // From here on a failure removes what this init made, and only that.
  Undo undo{dir, dir_is_new};
  if (dir_is_new && !make_dirs(dir.string(), 0755))
    return fail("cannot create " + dir.string() + ": " + std::strerror(errno));
  if (Status st = make_tree(dir, hostname, domain); !st.is_ok()) return fail(st.text);
  undo.armed = false;
  std::printf("# instance %s created: domain %s, host %s, mailbox postmaster@%s\n", dir.c_str(), domain.c_str(),
              hostname.c_str(), domain.c_str());
  if (::geteuid() == 0) std::printf("# as root, run `sluice setup` next to create the accounts and set ownership\n");
  std::printf("export SLUICE_CONFIG=%s/etc/sluice.toml\n", dir.c_str());
  return kExitOk;
}

}  // namespace sluice::cli
