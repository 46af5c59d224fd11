// crypt(3) password hashes through libxcrypt, so the user table can be
// shared with Dovecot ({CRYPT} scheme): new hashes are yescrypt ("$y$");
// yescrypt, SHA512-crypt ("$6$") and bcrypt ("$2b$", "$2y$") verify.
#pragma once
#include <string>
#include <string_view>

namespace sluice::password {

// A fresh yescrypt hash of PW with a random salt. Returns "" only if
// libxcrypt fails (no entropy), which callers treat as an error.
std::string hash(std::string_view pw);

// Hash with an explicit crypt prefix ("$y$", "$6$", "$2b$"), default cost.
std::string hash_with(std::string_view pw, const char* prefix);

// True when PW matches HASH. An empty, malformed or locked ("!", "*") hash
// never verifies. The comparison of the computed hash is constant-time.
bool verify(std::string_view pw, std::string_view hash);

}  // namespace sluice::password
