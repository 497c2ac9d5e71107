#!/usr/bin/env bash
# The README's test command (`npm test`): bring up Docker and the images, then run every suite.
# Prints a final line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
report="$(mktemp -t berth-vitest-XXXXXX.json)"
trap 'rm -f "$report"' EXIT
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
rc=$?
node scripts/summary.mjs "$report" || { [ "$rc" -ne 0 ] && echo "0 passed, 1 failed"; }
exit $rc
