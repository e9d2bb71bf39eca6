#!/usr/bin/env bash
# Runs the JPEG decoder's fuzz targets for longer than CI does (CI runs
# their seed corpora only): FuzzDifferential (against image/jpeg at full
# scale) and FuzzGarbage (arbitrary bytes at every scale).
# Usage: scripts/fuzz-jpeg.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-60}"
for target in FuzzDifferential FuzzGarbage; do
	go test -run XXX -fuzz "^${target}\$" -fuzztime "${t}s" ./internal/jpeg
done
