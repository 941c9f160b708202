#!/usr/bin/env bash
# `make demo` from a bare Debian 12, timed (issue 38 item 6: goal <= 4 min).
#
# Makes a minimal Debian 12 root with debootstrap (`--variant=minbase bookworm`, ~3 min, not timed),
# clones this checkout into it and, inside a chroot with /proc, /sys and /dev bound, times
# `apt-get install make` and `make demo` (which installs nix-bin, binutils, ffmpeg, espeak-ng and git,
# builds the steps' store env from requirements.lock and builds the demo). Needs root, debootstrap,
# the Debian mirror and PyPI. Prints "bare make demo: apt make N s, make demo N s, total N s".
#
# Usage: sudo bench/bench_bare_demo.sh [ROOT]   (default ROOT=/tmp/reelset-bare; reused if present)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
R=${1:-/tmp/reelset-bare}
[ -x "$R/bin/bash" ] || debootstrap --variant=minbase bookworm "$R" http://deb.debian.org/debian
for d in proc sys dev dev/pts; do mountpoint -q "$R/$d" || mount --bind "/$d" "$R/$d"; done
trap 'for d in dev/pts dev sys proc; do umount "$R/$d" 2>/dev/null || true; done' EXIT
cp /etc/resolv.conf "$R/etc/resolv.conf"
rm -rf "$R/root/reelset"
git clone -q "$REPO" "$R/root/reelset"
chroot "$R" /usr/bin/env -i HOME=/root DEBIAN_FRONTEND=noninteractive \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c '
set -e
cd /root/reelset
t0=$(date +%s)
apt-get update -qq && apt-get install -y -qq make >/dev/null
t1=$(date +%s)
make demo > /root/demo.log 2>&1 || { tail -30 /root/demo.log; exit 1; }
t2=$(date +%s)
tail -3 /root/demo.log
echo "bare make demo: apt make $((t1 - t0)) s, make demo $((t2 - t1)) s, total $((t2 - t0)) s"
'
