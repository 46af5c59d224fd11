// Forwarding to an outside address: the message goes back into the queue
// through bin/sluice-inject (the qmail-queue interface), with the original
// sender, so the scheduler and sluice-remote carry it from there.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace sluice::local {

struct ForwardRequest {
  std::string inject;       // path of sluice-inject
  std::string config_file;  // given to it as $SLUICE_CONFIG ("" keeps ours)
  std::string sender;       // "" is the null sender
  std::string target;
  std::map<std::string, std::string> params;  // the job's: ret and envid are passed on
  int timeout_seconds = 300;
};

// sluice-inject beside this program's own executable (/proc/self/exe), so
// an instance works without installation.
std::string default_inject_path();

// The fd 1 bytes: a plain qmail-queue envelope with sluice's R (RET) and
// E (ENVID) records when the job has them.
std::string forward_envelope(const ForwardRequest& r);

// Runs sluice-inject with PREFIX + MESSAGE on fd 0 and the envelope on fd 1.
// ok "forwarded to X, queued as QID" (QID when sluice-inject logs qid= on
// fd 2), perm on exit 31 or a 5.x.x reply line, temp on any other failure.
Status forward(const ForwardRequest& r, std::string_view prefix, std::string_view message);

// The mapping of sluice-inject's outcome, apart for tests.
Status map_inject_result(int wait_status, std::string_view err_output, const std::string& target);

}  // namespace sluice::local
