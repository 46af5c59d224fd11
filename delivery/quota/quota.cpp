#include "delivery/quota/quota.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/text.hpp"
#include "delivery/local/maildir.hpp"
#include "delivery/local/resolve.hpp"

namespace sluice::quota {

namespace {

// "ADDRESS SIZE": the address may not hold a space (RCPT's addresses are
// parsed by the listener; a quoted local part with a space is only asked
// about, never refused).
bool parse(std::string_view args, std::string& address, long long& size) {
  size_t sp = args.rfind(' ');
  if (sp == std::string_view::npos || sp == 0) return false;
  address = std::string(args.substr(0, sp));
  std::string_view n = args.substr(sp + 1);
  return parse_decimal(n, size);
}

}  // namespace

std::string answer(std::string_view line, tables::Tables& t, const local::Options& o) {
  if (line.substr(0, 6) != "quota ") return "temp unknown request";
  std::string address;
  long long size = 0;
  if (!parse(line.substr(6), address, size)) return "temp malformed quota request";
  local::Resolver r(t, o.delimiter, o.default_quota);
  auto res = r.resolve(address);
  if (!res.status.is_ok() || res.dests.empty()) return "ok";
  long long need = std::max(size, 1LL);
  std::string first_full;
  bool larger_than_all = true;
  for (const auto& d : res.dests) {
    if (d.kind != local::Destination::Kind::mailbox || d.quota <= 0) return "ok";
    auto root = local::maildir_path(o.mail_dir, d.address);
    if (!root) return "ok";
    struct stat st;
    if (::stat(root->c_str(), &st) != 0) {
      if (errno == ENOENT) return "ok";  // made at its first delivery: empty
      return "temp cannot stat " + *root + ": " + std::string(strerror(errno));
    }
    auto usage = local::quota_usage(*root, local::quota_definition(d.quota));
    if (!usage) return "temp " + usage.error().text;
    if (usage->bytes + need <= d.quota) return "ok";
    if (size <= d.quota) larger_than_all = false;
    if (first_full.empty())
      first_full = "mailbox " + d.address + " is over quota (" + std::to_string(usage->bytes) + " + " +
                   std::to_string(need) + " > " + std::to_string(d.quota) + " bytes)";
  }
  return std::string("full ") + (o.quota_bounce || larger_than_all ? "5.2.2 " : "4.2.2 ") + first_full;
}

}  // namespace sluice::quota
