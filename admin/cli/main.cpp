// sluice: the administration command line.
//
// SYNOPSIS
//   sluice [-c FILE] COMMAND ...   (sluice help lists the commands)
//
// DESCRIPTION
//   Makes instances (init), creates the system accounts and applies the
//   ownership contract (setup), reports readiness (status), manages the
//   domain, user, alias and SMS tables, inspects and changes the queue, and
//   validates the configuration (config check). docs/sluice.md is the manual.
//
// INPUTS AND OUTPUTS
//   The configuration from -c FILE, $SLUICE_CONFIG or /etc/sluice/sluice.toml;
//   passwords from --password, --password-stdin, or asked twice on a
//   terminal. Results on stdout; errors as one "sluice: ..." line on stderr.
//
// PRIVILEGES
//   The caller's. `setup` needs root; table and queue commands need write
//   access to db/ and queue/ (root or the accounts' groups after setup).
//
// EXIT STATUS
//   0 success; 1 an error (nothing was changed); 3 `status`: not running;
//   64 usage error.
#include "admin/cli/cli.hpp"
#include "common/log.hpp"

int main(int argc, char** argv) {
  sluice::log::init("sluice");
  return sluice::cli::run(argc, argv);
}
