#!/bin/sh
# Installs the Debian packages sluice builds and tests with, when they are
# missing. As root it runs apt-get; otherwise it prints the command to run.
set -eu
PKGS="g++ make pkg-config clang libclang-rt-14-dev
libtomlplusplus-dev libsqlite3-dev sqlite3 libssl-dev openssl libcrypt-dev
catch2 libasio-dev libgmime-3.0-dev libunbound-dev libspf2-dev libmilter-dev
libldap-dev libcurl4-openssl-dev libevent-dev
python3 python3-pytest python3-aiosmtpd
python3-pytest-timeout strace nodejs daemontools systemd dnsmasq-base bind9-dnsutils swaks libnet-ssleay-perl netcat-openbsd
dovecot-core dovecot-imapd dovecot-sqlite linux-perf
opendkim opendkim-tools python3-dkim python3-milter
util-linux e2fsprogs iproute2 procps"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# The SMSC simulator of the sluice-sms tests needs npm: Debian's nodejs
# ships it as a package of its own, NodeSource's nodejs includes it.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages with daemons (dovecot, dnsmasq) must not start system services
  # on this machine: tests run their own instances on loopback. policy-rc.d
  # exit 101 is Debian's way to say so during the install.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1
  fi
  # --no-install-recommends keeps a system MTA (Postfix, Exim) out.
  rc=0
  apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
  [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || exit "$rc"
else
  echo "deps: missing packages:$missing" >&2
  echo "deps: run as root: apt-get install --no-install-recommends$missing" >&2
  exit 1
fi
