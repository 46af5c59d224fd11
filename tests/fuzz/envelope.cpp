// Fuzzes the two parsers of queue bytes a caller controls: the fd 1
// envelope (any local user can hand sluice-inject anything) and the queue
// file (a file damaged on disk must be refused, never crash sluice-sched).
// Beyond "no crash": an accepted envelope encodes to bytes that parse back
// to the same envelope, and written as a queue file it parses back too,
// with any bytes after its end.
// fuzz-sources: queue/store/envelope.cpp queue/store/format.cpp common/address.cpp common/deliver_proto.cpp common/text.cpp common/fd.cpp common/log.cpp
#include <cstdint>
#include <cstdlib>
#include <string>

#include "queue/store/queue.hpp"

using namespace sluice;

static void must(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  queue::parse_file(in);

  queue::Envelope e;
  queue::EnvelopeError err;
  if (!queue::parse_envelope(in, e, err)) {
    must(err.exit_code == 91 || err.exit_code == 11);
    return 0;
  }
  queue::Envelope again;
  must(queue::parse_envelope(queue::encode_envelope(e), again, err));
  must(again.sender == e.sender && again.params == e.params && again.rcpts.size() == e.rcpts.size());
  for (size_t i = 0; i < e.rcpts.size(); i++)
    must(again.rcpts[i].address == e.rcpts[i].address && again.rcpts[i].notify == e.rcpts[i].notify &&
         again.rcpts[i].orcpt == e.rcpts[i].orcpt);

  std::string file = queue::header(5) + "Hi!\n\n" + queue::encode_trailer(e, 1700000000);
  auto parsed = queue::parse_file(file);
  must(parsed.ok());
  must(parsed->env.sender == e.sender && parsed->env.rcpts.size() == e.rcpts.size());
  for (const auto& r : parsed->env.rcpts) must(file[static_cast<size_t>(r.state_offset)] == '-');
  // A recycled file keeps an older message's bytes after the end: whatever
  // they are, the file reads the same.
  auto roomy = queue::parse_file(file + std::string(in));
  must(roomy.ok() && roomy->env.sender == e.sender && roomy->env.rcpts.size() == e.rcpts.size());
  return 0;
}
