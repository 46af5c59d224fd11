// sluice-filter-shell's logic: run a script as a filter stage. The script
// sees the message on stdin and the envelope in environment variables,
// answers with its exit status, may print a replacement message on stdout
// and a reply line on stderr. Pure parts here are unit-tested.
#pragma once
#include <string>
#include <vector>

#include "queue/store/queue.hpp"

namespace sluice::filter {

// "SCRIPT [ARG...] -- NEXT [ARG...]": false when either side is empty.
bool split_argv(const std::vector<std::string>& args, std::vector<std::string>& script,
                std::vector<std::string>& next);

// The variables the script gets: SLUICE_SENDER, SLUICE_RECIPIENTS (space
// separated), SLUICE_RCPT_COUNT, SLUICE_SIZE, and one SLUICE_<PARAM> per
// envelope parameter (SLUICE_CLIENT, SLUICE_HELO, SLUICE_AUTH, SLUICE_RET,
// SLUICE_ENVID, SLUICE_SMTPUTF8), each "NAME=value".
std::vector<std::string> script_environment(const queue::Envelope& env, size_t message_size);

struct Verdict {
  bool pass = false;   // hand the message to the next stage
  int exit_code = 0;   // when not passing: sluice-inject's code (31 or 71)
  std::string reply;   // when not passing: the line for fd 2
};
// The script's exit (as from waitpid) and its stderr's reply line ("" when
// it printed none): 0 passes; 31 or 100 refuse permanently (5.7.1 unless
// the script gave a 5.x.x line); anything else, a signal included, refuses
// temporarily (4.7.1 unless it gave a 4.x.x line), so a broken script
// never lets mail through unfiltered.
Verdict verdict(int wait_status, const std::string& reply_line);

// CRLF -> LF: the queue's form, whatever the script printed.
std::string to_lf(std::string text);

// Runs the whole stage: returns the exit status (after exec'ing NEXT on
// success this does not return).
int run(const std::vector<std::string>& args);

}  // namespace sluice::filter
