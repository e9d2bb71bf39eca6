#!/usr/bin/env bash
# Runs every test of the project, installing what the tests need first:
# versitygw (the S3 server, built from its Go module into .cache/bin) and
# Debian's chromium (for the browser test). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/versitygw.sh
bash scripts/install-chromium.sh

unformatted=$(gofmt -l . | grep -v '^\.cache/' || true)
if [ -n "$unformatted" ]; then
	echo "gofmt: not formatted: $unformatted" >&2
	exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -race -count=1 ./...
