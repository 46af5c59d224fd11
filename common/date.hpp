// Dates as mail headers write them (Date:, Arrival-Date:, Last-Attempt-Date:),
// and the clock for time-outs.
#pragma once
#include <string>

namespace sluice {

// RFC 5322 date-time of unix time T in local time: "Tue, 22 Dec 2009 13:04:12 -0800".
std::string rfc5322_date(long long t);

// Milliseconds on the monotonic clock (CLOCK_MONOTONIC): deadlines and ages
// that a change of the wall clock must not move.
long long monotonic_ms();

}  // namespace sluice
