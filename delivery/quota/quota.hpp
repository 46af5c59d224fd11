// sluice-quota's answer: would a message of SIZE bytes for ADDRESS fit in
// its mailbox now? Asked by sluice-auth at RCPT so a full mailbox is
// refused in the SMTP session (4.2.2, or 5.2.2) instead of bounced later.
//
// Line protocol on RUN_DIR/quota.sock (one request line, one answer line):
//   quota ADDRESS SIZE   -> ok | full ENH TEXT | temp TEXT
// "full" only when every destination of ADDRESS is a mailbox with a quota
// and none has room for max(SIZE, 1) more bytes; an alias with a
// forwarding target, a mailbox without a quota, an unknown address or a
// mailbox not yet made is "ok" (sluice-local still enforces the quota at
// delivery). ENH is 5.2.2 under local.quota_exceeded = "bounce", or when
// the message alone is larger than the quota; 4.2.2 otherwise. TEXT names
// the usage, for the log: the listener does not show it to the client.
#pragma once
#include <string>
#include <string_view>

#include "common/tables.hpp"
#include "delivery/local/local.hpp"

namespace sluice::quota {

std::string answer(std::string_view line, tables::Tables& t, const local::Options& o);

}  // namespace sluice::quota
