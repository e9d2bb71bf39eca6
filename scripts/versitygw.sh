#!/usr/bin/env bash
# Builds the versitygw S3 gateway used by the s3store tests into .cache/bin
# (git-ignored). Runs once: an existing binary is kept.
set -euo pipefail
VERSION="${VERSITYGW_VERSION:-v1.8.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
if [ -x "$bin/versitygw" ]; then
	echo "versitygw already built: $bin/versitygw"
	exit 0
fi
mkdir -p "$bin"
# Build outside the module so its go.mod (and go.sum) stay untouched.
cd "$bin"
GOBIN="$bin" GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
echo "built $bin/versitygw"
