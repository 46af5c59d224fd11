#!/bin/sh
# What `make run` calls after the build: makes the development instance
# ./var when absent (sluice init; sluice setup as root), adds the user
# you@example.test (password "secret") when missing, starts sluice-start in
# the background with its log in var/log/sluice.log, waits until
# `sluice status` says it is ready, and prints how to send a first message.
# Safe to run twice: a running instance is left alone.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
BIN="$TOP/bin"
VAR="$TOP/var"
CFG="$VAR/etc/sluice.toml"
DOMAIN=example.test
USER_ADDR="you@$DOMAIN"
export SLUICE_CONFIG="$CFG"

if [ ! -f "$CFG" ]; then
  "$BIN/sluice" init "$VAR" --domain "$DOMAIN" >/dev/null
  echo "run: made the instance $VAR (domain $DOMAIN)"
fi
if [ "$(id -u)" = 0 ]; then
  # Each program runs under its own account, which must reach $VAR.
  d="$VAR"
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    if [ "$(stat -c %A "$d" | cut -c10)" != x ] && [ "$(stat -c %A "$d" | cut -c10)" != t ]; then
      echo "run: the sluice accounts cannot enter $d (mode $(stat -c %a "$d")); chmod o+x $d, or run as a normal user" >&2
      exit 1
    fi
  done
  # Idempotent; run each time so a rebuilt sluice-inject is setgid again.
  "$BIN/sluice" setup >/dev/null
fi
if ! "$BIN/sluice" user list "$DOMAIN" | grep -q "^$USER_ADDR "; then
  printf 'secret\n' | "$BIN/sluice" user add "$USER_ADDR" --password-stdin >/dev/null
  echo "run: added the mailbox $USER_ADDR (password: secret)"
fi

if "$BIN/sluice" status >/dev/null 2>&1; then
  echo "run: sluice is already running ($("$BIN/sluice" status))"
else
  mkdir -p "$VAR/log"
  setsid "$BIN/sluice-start" -c "$CFG" </dev/null >>"$VAR/log/sluice.log" 2>&1 &
  pid=$!
  i=0
  until "$BIN/sluice" status >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 300 ]; then
      echo "run: sluice-start did not become ready; the end of $VAR/log/sluice.log:" >&2
      tail -n 20 "$VAR/log/sluice.log" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    i=$((i + 1))
    sleep 0.1
  done
  echo "run: sluice is running ($("$BIN/sluice" status)); log: var/log/sluice.log"
fi

cat <<MSG

Send a first message:
  export SLUICE_CONFIG=$CFG PATH=$BIN:\$PATH
  printf 'Subject: hello\\n\\nmy first message\\n' | sendmail $USER_ADDR
It lands in the Maildir $VAR/mail/$DOMAIN/you/new/
  the queue:  mailq          the log:  tail -f $VAR/log/sluice.log
  over SMTP:  swaks --server 127.0.0.1:2525 --to $USER_ADDR
  submission: swaks --server 127.0.0.1:2587 -tls --auth-user $USER_ADDR --auth-password secret --from $USER_ADDR --to $USER_ADDR
Stop it:  kill \$(cat $VAR/run/sluice-start.pid)
MSG
