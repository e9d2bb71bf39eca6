#!/usr/bin/env bash
# Runs the benchmark harness (bench/): the library's upload and serving
# paths against libvips in-process, bild, disintegration/imaging and
# http.FileServer, interleaved round by round. Installs what it needs
# first: Debian's libvips-dev (for the cgo comparison) and the 12 MP phone
# photo from Debian's forensics-samples-files package. Arguments go to the
# harness (e.g. -rounds 7, -skip-peers).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
if ! pkg-config --exists vips 2>/dev/null; then
	$SUDO apt-get update -qq >/dev/null
	$SUDO apt-get install -y -qq --no-install-recommends libvips-dev pkg-config >/dev/null
fi
photo=.cache/forensics/usr/share/forensics-samples/original-files/pic2/IMG_20200608_111614.jpg
if [ ! -f "$photo" ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download forensics-samples-files >/dev/null)
	mkdir -p .cache/forensics
	dpkg-deb -x "$tmp"/forensics-samples-files_*.deb .cache/forensics
	rm -rf "$tmp"
fi
cd bench
exec go run -tags vips . -photo "../$photo" "$@"
