#!/usr/bin/env bash
# `make test`. The real control plane's binaries (about 20 min cold on 2 cores, seconds when the
# machine cache is warm) build in the background at the lowest CPU and I/O priority while lint,
# unit, the kubesim tier and the publish checks run; the real tier then waits for them. Run one
# after the other, a cold machine needs the sum of both (57 min); this way the build mostly fits
# into the kubesim tier's idle CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
PYTHON=${PYTHON:-python3}
submake() { $MAKE --no-print-directory "$@"; }

submake setup
mkdir -p .cache
build_log=.cache/realcluster-build.log
start=$SECONDS
# Its own session, so that one signal stops `go build` and the compilers it runs.
setsid nice -n 19 ionice -c 3 "$PYTHON" tests/realcluster/build.py >"$build_log" 2>&1 &
build_pid=$!
trap 'kill -TERM -- "-$build_pid" 2>/dev/null || true' EXIT
echo "make test: building the real control plane's binaries in the background (log: $build_log)"

submake lint unit integration importer sanity units docs

echo "make test: waiting for the real control plane's binaries ($((SECONDS - start)) s since the build started)"
if ! wait "$build_pid"; then
    cat "$build_log"
    echo "make test: the real control plane's build failed (log above: $build_log)" >&2
    exit 1
fi
cat "$build_log"
echo "make test: binaries ready $((SECONDS - start)) s after the build started"
submake integration-real
