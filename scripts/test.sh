#!/usr/bin/env bash
# The README's test command (`npm test`): bring up Docker and the images, then run every suite.
# Prints a final line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
report="$(mktemp -t berth-vitest-XXXXXX.json)"
trap 'rm -f "$report"' EXIT
# The second Docker engine (+ sshd on 127.0.0.1) for test/engines/: started once here and torn
# down at exit; when it can't run here, those suites skip with the reason the script printed.
if [ "${BERTH_TEST_DOCKER:-1}" != 0 ] && [ -z "${BERTH_ENGINE2_SOCK:-}" ]; then
  if engine2="$(bash scripts/second-engine.sh up)"; then
    set -a
    eval "$engine2"
    set +a
    trap 'rm -f "$report"; bash scripts/second-engine.sh down' EXIT
  else
    echo "note: second engine unavailable (${engine2:-see above}); test/engines multi-engine suites will skip" >&2
  fi
fi
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
rc=$?
node scripts/summary.mjs "$report" || { [ "$rc" -ne 0 ] && echo "0 passed, 1 failed"; }
exit $rc
