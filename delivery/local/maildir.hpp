// Maildir++ as Dovecot and Courier read it: ROOT/{cur,new,tmp}, folders as
// ROOT/.Name/, unique names SEC.M<usec>P<pid>Q<n>.<host>,S=<size>, and the
// quota file ROOT/maildirsize.
#pragma once
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace sluice::local {

// The Maildir++ root of the mailbox ADDRESS (a lowercased local@domain
// from the user table): MAIL_DIR/DOMAIN/LOCAL. The address becomes a path,
// so a name that would leave MAIL_DIR/DOMAIN or land in another maildir is
// refused (5.3.5).
Result<std::string> maildir_path(const std::string& mail_dir, const std::string& address);

// Makes ROOT and its cur/, new/, tmp/ (mode 0700) when missing, with every
// parent up to and including MAIL_DIR made too; each directory created is
// made durable by an fsync of its parent.
Status ensure_maildir(const std::string& root);

// A new unique base name for a message of SIZE bytes delivered on HOST:
// "SEC.M<usec>P<pid>Q<n>.<host>,S=<size>", the host's '/' and ':' written
// as \057 and \072 as Dovecot does, so ':' never clashes with the ":2,"
// flags suffix.
std::string unique_name(const std::string& host, long long size);
std::string escape_host(std::string_view host);

// The Maildir++ quota file (maildirsize). The first line defines the quota
// ("NNNS" bytes, ",NNNC" messages); every further line is "bytes count",
// a delta; the usage is their sum.
struct Usage {
  long long bytes = 0;
  long long count = 0;
};

// The definition line for LIMIT_BYTES (and LIMIT_COUNT, 0: none).
std::string quota_definition(long long limit_bytes, long long limit_count = 0);

// Current usage of the maildir at ROOT against the definition DEF. The file
// is rebuilt by scanning every folder's cur/ and new/ when it is missing,
// when its definition line differs from DEF, or when it has grown past
// 5120 bytes (the Maildir++ rule, so it never grows without bound).
Result<Usage> quota_usage(const std::string& root, const std::string& def);

// Scans ROOT and its .Folders: sizes from ",S=" in names, else stat(2).
Usage scan_usage(const std::string& root);

// Appends "BYTES COUNT" to ROOT/maildirsize after a delivery, in one
// O_APPEND write so concurrent deliverers do not interleave. A missing file
// is left missing (the next reader rebuilds it).
void quota_add(const std::string& root, long long bytes, long long count);

}  // namespace sluice::local
