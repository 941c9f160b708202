#!/usr/bin/env bash
# `make demo` from a bare Debian 12, timed (issue 38 item 6: goal <= 4 min).
#
# Makes a minimal Debian 12 root once with debootstrap (`--variant=minbase bookworm`, ~3 min, not
# timed; kept pristine at ROOT.base), copies it to ROOT, clones this checkout into it and times
# `apt-get install make` and `make demo` (which installs nix-bin, binutils, ffmpeg, espeak-ng, git, python3 and python3-venv,
# builds the steps' store env from requirements.lock and builds the demo) inside it. The root is
# entered with pivot_root in a private mount namespace, not chroot: Nix unshares its mount namespace
# at start, and inside a plain chroot git then fails ("fatal: cannot change to '/root/reelset'").
# Needs root, debootstrap, util-linux (unshare), the Debian mirror and PyPI.
# Prints "bare make demo: apt make N s, make demo N s (deps N s, venv N s, demo build N s), total N s".
#
# Usage: bench/bench_bare_demo.sh [ROOT]   (as root; default ROOT=/tmp/reelset-bare)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
R=${1:-/tmp/reelset-bare}
[ -x "$R.base/bin/bash" ] || debootstrap --variant=minbase bookworm "$R.base" http://deb.debian.org/debian
rm -rf "$R" && cp -a "$R.base" "$R"
cp /etc/resolv.conf "$R/etc/resolv.conf"
# this network's own trust, when it has one (a TLS-inspecting egress proxy: pip reads /etc/pip.conf's
# `cert`); a bare machine on the same network would be given the same two files
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$R/etc/pip.conf"
mkdir -p "$R/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
# (and its local CAs, which update-ca-certificates keeps when apt installs ca-certificates)
[ -d /usr/local/share/ca-certificates ] && mkdir -p "$R/usr/local/share" && cp -r /usr/local/share/ca-certificates "$R/usr/local/share/"
git clone -q "$REPO" "$R/root/reelset"
mkdir -p "$R/.oldroot"
cat > "$R/root/bare-demo.sh" <<'INNER'
set -e
mount -t proc proc /proc
umount -l /.oldroot
cd /root/reelset
t0=$(date +%s)
apt-get update -qq && apt-get install -y -qq make >/dev/null
t1=$(date +%s)
# `make demo` = deps + venv + the demo build; run as its three parts (each a no-op when done) to see where
# the time goes
make deps > /root/demo.log 2>&1 || { tail -30 /root/demo.log; exit 1; }
t2=$(date +%s)
make venv >> /root/demo.log 2>&1 || { tail -30 /root/demo.log; exit 1; }
t3=$(date +%s)
make demo >> /root/demo.log 2>&1 || { tail -30 /root/demo.log; exit 1; }
t4=$(date +%s)
tail -3 /root/demo.log
echo "bare make demo: apt make $((t1 - t0)) s, make demo $((t4 - t1)) s (deps $((t2 - t1)) s, venv $((t3 - t2)) s, demo build $((t4 - t3)) s), total $((t4 - t0)) s"
INNER
unshare --mount --fork bash -c "
  mount --make-rprivate /
  mount --bind '$R' '$R'
  for d in sys dev dev/pts; do mount --rbind /\$d '$R'/\$d; done
  cd '$R' && pivot_root . .oldroot && cd /
  exec /usr/sbin/chroot . /usr/bin/env -i HOME=/root DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash /root/bare-demo.sh"
