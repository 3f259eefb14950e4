#!/usr/bin/env bash
# Run galaxy-importer (the code Galaxy and Automation Hub run on every upload) on a built
# collection tarball, with Automation Hub's settings (galaxy-importer.cfg beside this script), and
# fail on any warning or error, not only on a refused import.  Offline: the importer calls only
# ansible-doc and ansible-lint --offline, from PATH (the project venv under make).
#
#   tests/publish/run_importer.sh build/servicemesh-asm-1.0.0.tar.gz
set -euo pipefail
tarball=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
workdir=$(dirname "$tarball")
log="$workdir/importer.log"

# The settings come from the file alone: GALAXY_IMPORTER_* variables would override it.
unset $(env | sed -n 's/^\(GALAXY_IMPORTER_[A-Z_]*\)=.*/\1/p') 2>/dev/null || true
export GALAXY_IMPORTER_CONFIG="$here/galaxy-importer.cfg"

# The importer writes importer_result.json into the current directory.
set +e
(cd "$workdir" && python -m galaxy_importer.main "$tarball") >"$log" 2>&1
rc=$?
set -e
grep -v '^Loading ' "$log" || true
problems=$(grep -cE '^(WARNING|ERROR|CRITICAL)' "$log" || true)
if [ "$rc" -ne 0 ] || [ "$problems" -ne 0 ] || [ "$(tail -n1 "$log")" != "Importer processing completed successfully" ]; then
    echo "run_importer: galaxy-importer refused $(basename "$tarball") or warned ($problems warning/error lines, exit $rc); full log: $log" >&2
    exit 1
fi
echo "run_importer: $(basename "$tarball") imported with 0 warnings (log: $log, result: $workdir/importer_result.json)"
