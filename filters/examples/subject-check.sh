#!/bin/sh
# An example content filter for sluice-filter-shell: copy it and change it.
#
# It refuses a message whose Subject contains one of the words given as
# arguments (the client sees the 5.7.1 line below), and marks every other
# message with an X-Sluice-Checked header (a rewrite: what a filter prints
# on stdout replaces the message).
#
# In etc/sluice.toml:
#   [smtpd]
#   filters = ["sluice-filter-shell", "/etc/sluice/filters/subject-check.sh",
#              "casino", "lottery", "--"]
#
# The message is on stdin; the envelope is in SLUICE_SENDER,
# SLUICE_RECIPIENTS, SLUICE_CLIENT, SLUICE_HELO, SLUICE_AUTH, SLUICE_SIZE.
# Exit 0 passes the message on, 31 refuses it, anything else (a crash, a
# missing command) refuses it for now: the client will try again later.
set -eu
msg=$(mktemp) || exit 75
trap 'rm -f "$msg"' EXIT
cat >"$msg"
# The Subject is in the header, which ends at the first empty line.
subject=$(sed -n '/^$/q; s/^[Ss][Uu][Bb][Jj][Ee][Cc][Tt]:[[:space:]]*//p' "$msg" | tr '[:upper:]' '[:lower:]')
for word in "$@"; do
  lower=$(printf '%s' "$word" | tr '[:upper:]' '[:lower:]')
  case "$subject" in
    *"$lower"*)
      echo "5.7.1 Message refused: its subject contains \"$word\"" >&2
      exit 31
      ;;
  esac
done
printf 'X-Sluice-Checked: subject-check; client=%s\n' "${SLUICE_CLIENT:-local}"
cat "$msg"
