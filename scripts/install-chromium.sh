#!/bin/sh
# install-chromium.sh installs Debian's chromium for photod's browser test
# (cmd/photod/browsertest drives /usr/bin/chromium with chromedp).
# It does nothing when /usr/bin/chromium is already there, so running it
# again is cheap; it needs root, or sudo when it is available.
set -eu

if [ -x /usr/bin/chromium ]; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	echo "install-chromium.sh: /usr/bin/chromium is missing; run this script as root (or install sudo)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null

if [ ! -x /usr/bin/chromium ]; then
	echo "install-chromium.sh: apt-get finished but /usr/bin/chromium is still missing" >&2
	exit 1
fi
