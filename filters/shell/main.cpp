// sluice-filter-shell: makes a shell script a filter stage (DESIGN.md
// "Filters").
//
//   sluice-filter-shell SCRIPT [ARG...] -- NEXT [ARG...]
//
// Input:  the message on fd 0 and the envelope on fd 1 (the injection
//         interface, queue/store/queue.hpp), like sluice-inject.
// The script runs with the message on stdin and the envelope in the
//         environment: SLUICE_SENDER, SLUICE_RECIPIENTS (space separated),
//         SLUICE_RCPT_COUNT, SLUICE_SIZE, SLUICE_CLIENT, SLUICE_HELO,
//         SLUICE_AUTH (and SLUICE_RET, SLUICE_ENVID, SLUICE_SMTPUTF8 when
//         set). It answers with its exit status: 0 pass the message on (what
//         it prints on stdout, if anything, replaces the message); 31 or 100
//         refuse permanently; anything else, a crash included, refuses
//         temporarily. A line "5.7.1 text" (or "550 5.7.1 text") on its
//         stderr is the reply the SMTP client sees; other stderr lines go
//         to the log.
// Output: on pass, NEXT is exec'd (chain-loaded) with the message on fd 0
//         and the envelope on fd 1, so its exit status is ours; else one
//         reply line on fd 2.
// Privileges: none; runs as its caller (sluice-smtpd's account).
// Exit: NEXT's status on pass; 31 permanent refusal; 71 temporary refusal;
//       54 the message or envelope cannot be read; 81 usage; 91 (or 11)
//       bad envelope.
#include <csignal>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "filters/shell/shell.hpp"

int main(int argc, char** argv) {
  sluice::log::init("sluice-filter-shell");
  std::signal(SIGPIPE, SIG_DFL);
  std::vector<std::string> args(argv + 1, argv + argc);
  return sluice::filter::run(args);
}
