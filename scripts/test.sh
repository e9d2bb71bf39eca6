#!/usr/bin/env bash
# Runs every check and test of the project, installing what the tests need
# first: versitygw (the S3 server, built from its Go module into .cache/bin)
# and Debian's chromium (for the browser test). CI runs exactly this.
#
# The repository holds several Go modules: the library at the root, bench/
# and cmd/photod/browsertest/ (the browser test, which keeps chromedp out of
# the library's go.mod). Each module is checked on its own: go mod tidy must
# have nothing to change, then go vet, staticcheck and the tests with the
# race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The HEIC and AVIF decoders use a system libheif or libavif when one is
# installed, else their embedded WebAssembly builds; nodynamic makes every
# machine test the same (WebAssembly) path.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=nodynamic"

bash scripts/versitygw.sh
bash scripts/install-chromium.sh

# Every directory holding a go.mod, the root first; .cache holds tools.
mapfile -t modules < <(find . -name go.mod -not -path './.cache/*' -not -path './.git/*' -printf '%h\n' | sort)

unformatted=$(gofmt -l . | grep -v '^\.cache/' || true)
if [ -n "$unformatted" ]; then
	echo "gofmt: not formatted: $unformatted" >&2
	exit 1
fi

for m in "${modules[@]}"; do
	cd "$root/$m"
	if ! go mod tidy -diff; then
		echo "go mod tidy: module $m is not tidy (run go mod tidy in $m)" >&2
		exit 1
	fi
done

for m in "${modules[@]}"; do
	echo "== module $m"
	cd "$root/$m"
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	go test -race -count=1 ./...
done
