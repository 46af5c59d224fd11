// `sluice queue ...`, `status`, `config check` and `sms send`: the commands
// that read the instance rather than the tables.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "admin/cli/cli.hpp"
#include "common/fd.hpp"
#include "common/notify_spool.hpp"

namespace sluice::cli {
namespace {

const char* kQueueUsage =
    "usage: sluice queue list | show QID | delete QID...|ALL | hold QID... | release QID... | flush\n";
const char* kSmsUsage = "usage: sluice sms send --to +E164 --text TEXT\n";

const char* state_name(queue::RcptState s) {
  switch (s) {
    case queue::RcptState::pending: return "pending";
    case queue::RcptState::delivered: return "delivered";
    case queue::RcptState::failed: return "failed";
  }
  return "?";
}

int queue_show(const std::string& qdir, const std::string& qid) {
  bool held = false;
  std::string path = queue::find(qdir, qid, &held);
  if (path.empty()) return fail("no message " + qid + " in the queue");
  std::string content;
  if (!read_file(path, content)) return fail("cannot read " + path + ": " + std::strerror(errno));
  auto e = queue::parse_file(content);
  if (!e) return fail(path + ": " + e.error().text);
  if (e->qid.empty()) e->qid = path.substr(path.rfind('/') + 1);  // parse_file sees no path
  std::printf("qid: %s\nfile: %s\nstate: %s\narrival: %s\nsize: %lld\ntries: %d\n", e->qid.c_str(), path.c_str(),
              queue_state(queue::Listed{*e, held}).c_str(), iso_time(e->arrival).c_str(), e->msg_length, e->tries);
  if (e->next_try > 0) std::printf("next_try: %s\n", iso_time(e->next_try).c_str());
  if (!e->reason.empty()) std::printf("reason: %s\n", e->reason.c_str());
  std::printf("sender: <%s>\n", e->env.sender.c_str());
  for (const auto& [k, v] : e->env.params) std::printf("param: %s=%s\n", k.c_str(), v.c_str());
  for (const auto& r : e->env.rcpts) {
    std::printf("rcpt: <%s> %s", r.address.c_str(), state_name(r.state));
    if (!r.notify.empty()) std::printf(" notify=%s", r.notify.c_str());
    if (!r.orcpt.empty()) std::printf(" orcpt=%s", r.orcpt.c_str());
    std::printf("\n");
  }
  std::printf("\n");
  std::fwrite(content.data() + e->msg_offset, 1, static_cast<size_t>(e->msg_length), stdout);
  return kExitOk;
}

// delete/hold/release: every QID must exist before anything changes.
int queue_change(const std::string& qdir, const std::string& sub, const Args& qids_in) {
  Args qids = qids_in;
  if (sub == "delete" && qids.size() == 1 && qids[0] == "ALL") {
    qids.clear();
    for (const auto& l : queue::list(qdir)) qids.push_back(l.entry.qid);
  } else {
    for (const auto& q : qids) {
      if (!queue::valid_qid(q)) return fail("not a queue id: " + q);
      bool held = false;
      if (queue::find(qdir, q, &held).empty()) return fail("no message " + q + " in the queue; nothing changed");
      if (sub == "hold" && held) return fail(q + " is already held; nothing changed");
      if (sub == "release" && !held) return fail(q + " is not held; nothing changed");
    }
  }
  int rc = kExitOk;
  for (const auto& q : qids) {
    Status st = sub == "delete" ? queue::remove(qdir, q) : sub == "hold" ? queue::hold(qdir, q) : queue::release(qdir, q);
    if (!st.is_ok()) rc = fail(q + ": " + st.text);
    else std::printf("%s: %s\n", q.c_str(), sub == "delete" ? "deleted" : sub == "hold" ? "held" : "released");
  }
  // A released message should be tried now, not at the next rescan.
  if (sub == "release" && rc == kExitOk && !qids.empty()) queue::request_flush(qdir);
  return rc;
}

}  // namespace

int cmd_queue(const Args& args, const std::string& config_arg) {
  if (args.empty()) return usage(kQueueUsage);
  const std::string& sub = args[0];
  Args rest(args.begin() + 1, args.end());
  bool ok = (sub == "list" || sub == "flush") ? rest.empty()
            : sub == "show"                   ? rest.size() == 1
            : (sub == "delete" || sub == "hold" || sub == "release") && !rest.empty();
  if (!ok) return usage(kQueueUsage);
  Config cfg;
  if (!load_config(config_arg, cfg)) return kExitFail;
  std::string qdir = cfg.path("queue.dir");
  if (::access((qdir + "/msg").c_str(), R_OK | X_OK) != 0)
    return fail("cannot read the queue " + qdir + ": " + std::strerror(errno));
  if (sub == "list") {
    for (const auto& l : queue::list(qdir)) std::printf("%s\n", queue_line(l).c_str());
    return kExitOk;
  }
  if (sub == "show") return queue_show(qdir, rest[0]);
  if (sub == "flush") {
    Status st = queue::request_flush(qdir);
    return st.is_ok() ? kExitOk : fail("flush: " + st.text);
  }
  return queue_change(qdir, sub, rest);
}

int cmd_status(const Args& args, const std::string& config_arg) {
  if (!args.empty()) return usage("usage: sluice status\n");
  Config cfg;
  if (!load_config(config_arg, cfg)) return kExitFail;
  std::string pidfile = cfg.path("run_dir") + "/sluice-start.pid";
  std::string text;
  if (!read_file(pidfile, text)) {
    std::printf("not running (no %s)\n", pidfile.c_str());
    return kExitNotRunning;
  }
  long pid = std::strtol(text.c_str(), nullptr, 10);
  // EPERM: alive but another user's (root started it, we are not root).
  if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)) {
    std::printf("not running (stale %s)\n", pidfile.c_str());
    return kExitNotRunning;
  }
  std::printf("running pid %ld\n", pid);
  return kExitOk;
}

int cmd_config(const Args& args, const std::string& config_arg) {
  if (args.size() != 1 || args[0] != "check") return usage("usage: sluice config check\n");
  std::string path = find_config_path(config_arg.empty() ? nullptr : config_arg.c_str());
  auto c = Config::load(path);
  if (!c) {
    std::fprintf(stderr, "%s\n", c.error().text.c_str());
    return kExitFail;
  }
  std::printf("# %s: ok\n", path.c_str());
  for (const auto& e : c->effective()) {
    // Values in their canonical text form; lists and maps comma-joined.
    if (e.from_file)
      std::printf("%s = \"%s\"  # %s:%d (default \"%s\")\n", e.key.c_str(), e.value.c_str(), path.c_str(), e.line,
                  e.def.c_str());
    else
      std::printf("%s = \"%s\"  # default\n", e.key.c_str(), e.value.c_str());
  }
  return kExitOk;
}

int cmd_sms(const Args& args, const std::string& config_arg) {
  Opts o;
  std::string err;
  if (args.empty() || args[0] != "send") return usage(kSmsUsage);
  if (!parse_opts(Args(args.begin() + 1, args.end()), {{"--to", true}, {"--text", true}}, o, err) ||
      !o.positional.empty() || !o.has("--to") || !o.has("--text")) {
    if (!err.empty()) fail(err);
    return usage(kSmsUsage);
  }
  if (!valid_e164(o.get("--to"))) return fail("--to must be E.164, '+' and 7 to 15 digits: " + o.get("--to"));
  if (o.get("--text").empty()) return fail("--text is empty");
  Config cfg;
  if (!load_config(config_arg, cfg)) return kExitFail;
  notify::Request r;
  r.to = o.get("--to");
  r.text = o.get("--text");
  r.qid = "manual";
  r.created = static_cast<long long>(std::time(nullptr));
  Status st = notify::enqueue(cfg.path("queue.dir") + "/notify", r);
  if (!st.is_ok()) return fail("cannot queue the SMS: " + st.text);
  std::printf("sms to %s queued\n", r.to.c_str());
  return kExitOk;
}

}  // namespace sluice::cli
