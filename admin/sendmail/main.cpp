// sendmail, mailq: the classic mail submission command on top of sluice.
//
// SYNOPSIS
//   sendmail [-t] [-i|-oi] [-f SENDER|-r SENDER] [-F NAME] [-C CONFIG]
//            [-N DSN] [-R full|hdrs] [-V ENVID] [-bp|-bm|-bi|-q] [--] [RCPT ...]
//   mailq    (the same as sendmail -bp)
//
// DESCRIPTION
//   Reads a message on standard input (a line "." ends it unless -i/-oi),
//   turns CRLF into LF, removes Bcc, adds From, Date and Message-ID when
//   missing, takes recipients from the arguments and, with -t, from
//   To/Cc/Bcc, and hands message and envelope to sluice-injectd over
//   RUN_DIR/inject.sock (queue/store/submit.hpp), or, when no instance
//   listens there, to bin/sluice-inject (found beside this executable) on
//   fd 0 and fd 1. Bare local parts get
//   "@hostname" (the config's `hostname`). -v -n -G -U -I -m -B -h -L -O -X
//   and -oX options other than -oi are accepted and ignored, as Postfix does.
//   As mailq or with -bp it lists the queue like `sluice queue list`, or
//   prints "Mail queue is empty". -q asks the scheduler to retry now.
//   docs/sendmail.md is the manual.
//
// PRIVILEGES
//   The caller's; sluice-injectd (or the setgid sluice-inject) records the
//   caller's uid.
//   mailq needs read access to the queue (root or group sluice-q).
//
// EXIT STATUS (sysexits)
//   0 queued; 64 usage or no recipients; 65 bad address; 69 refused for
//   good (sluice-inject 31) or not runnable; 70 internal error; 75 temporary
//   failure, try again (sluice-inject 51-56, 71-75, 81); 78 configuration error.
#include <cstring>
#include <string>
#include <vector>

#include "admin/sendmail/run.hpp"
#include "common/log.hpp"

int main(int argc, char** argv) {
  sluice::log::init("sendmail");
  const char* base = argc > 0 ? std::strrchr(argv[0], '/') : nullptr;
  std::string name = base ? base + 1 : (argc > 0 ? argv[0] : "sendmail");
  return sluice::sendmail::run(std::vector<std::string>(argv + 1, argv + argc), name == "mailq");
}
