#!/usr/bin/env bash
# Build the collection's HTML docs site (make docs) offline, from the same DOCUMENTATION / RETURN,
# role argument spec and docs/docsite extra docs that ansible-doc and Galaxy read.
#
#   tests/publish/build_docs.sh [OUT_DIR]      (default build/docs; the site is OUT_DIR/html)
#
# 1. antsibull-docs lint-collection-docs: markup, references and extra docs (docs/docsite).
# 2. antsibull-docs collection: RST pages for every plugin, the role and the extra docs, into a copy
#    of the Sphinx project in docs/site (made with `antsibull-docs sphinx-init --use-current`).
# 3. sphinx-build with -W: any warning fails the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/build/docs}")

rm -rf "$out"
mkdir -p "$out"
chmod 700 "$out"  # antsibull-docs writes only into directories nobody else may write to
cp -r "$root/docs/site" "$out/src"
chmod -R go-w "$out/src"

# The checkout resolves as servicemesh.asm through collections/ (make setup's link).
export ANSIBLE_COLLECTIONS_PATH="$root/collections"
cd "$root"
antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck .
cd "$out/src"
antsibull-docs --config-file antsibull-docs.cfg collection --use-current --fail-on-error --dest-dir rst servicemesh.asm
sphinx-build -b html -c . -W --keep-going -q rst "$out/html"
echo "build_docs: $out/html/index.html"
