// How sluice-sched learns of messages: the startup scan and the periodic
// rescan of queue/msg/*, inotify events (a commit's rename, a release from
// hold, a removal), and `sluice queue flush`.
#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/log.hpp"
#include "queue/sched/scheduler.hpp"

namespace sluice::sched {
namespace {

constexpr const char* kHex = "0123456789abcdef";
constexpr long long kStaleStaging = 36 * 3600;  // a crashed sluice-inject's leftovers

}  // namespace

void Scheduler::add(const std::string& qid, const std::string& path, bool is_new) {
  auto it = msgs_.find(qid);
  if (it != msgs_.end()) {
    // Released while an attempt of it was still running: keep it.
    it->second.gone = false;
    it->second.path = path;
    return;
  }
  Msg m;
  m.qid = qid;
  m.path = path;
  if (!is_new) {
    auto e = queue::read_entry(path);
    if (!e) {
      if (e.error().text.starts_with("corrupt")) queue::quarantine(qdir_, path);
      return;
    }
    m.next_try = e->next_try;
  }
  timers_.emplace(m.next_try, qid);
  msgs_.emplace(qid, std::move(m));
}

void Scheduler::forget(const std::string& qid) {
  auto it = msgs_.find(qid);
  if (it == msgs_.end()) return;
  if (it->second.active) it->second.gone = true;
  else msgs_.erase(it);
}

void Scheduler::scan() {
  long long now = ::time(nullptr);
  for (int i = 0; i < 16; i++) {
    std::string dir = qdir_ + "/msg/" + kHex[i];
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      log::error({{"event", "scan_failed"}, {"dir", dir}, {"error", strerror(errno)}});
      continue;
    }
    while (auto* de = ::readdir(d)) {
      std::string name = de->d_name, path = dir + "/" + name;
      if (name.ends_with(".tmp")) {
        struct stat st;
        if (::stat(path.c_str(), &st) == 0 && now - st.st_mtime > kStaleStaging) ::unlink(path.c_str());
      } else if (queue::valid_qid(name) && !msgs_.count(name)) {
        add(name, path, false);
      }
    }
    ::closedir(d);
  }
}

void Scheduler::handle_inotify() {
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) return;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        scan();
        continue;
      }
      std::string name = ev->len ? ev->name : "";
      auto w = watches_.find(ev->wd);
      if (w == watches_.end()) continue;
      if (w->second == qdir_) {
        if (name == "flush") {
          ::unlink((qdir_ + "/flush").c_str());
          flush();
        }
      } else if (queue::valid_qid(name)) {
        if (ev->mask & IN_MOVED_TO) add(name, w->second + "/" + name, true);
        else forget(name);
      }
    }
  }
}

void Scheduler::flush() {
  log::info({{"event", "flush"}, {"messages", std::to_string(msgs_.size())}});
  for (auto& [qid, m] : msgs_) {
    if (m.active) continue;
    m.next_try = 0;
    timers_.emplace(0, qid);
  }
}

}  // namespace sluice::sched
