#!/usr/bin/env bash
# The README's test command (`npm test`): bring up Docker and the images, then run every suite.
# Prints a final line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
report="$(mktemp -t berth-vitest-XXXXXX.json)"
corpus="$(mktemp -t berth-corpus-XXXXXX.json)"
trap 'rm -f "$report" "$corpus"' EXIT
# The second Docker engine (+ sshd on 127.0.0.1) for test/engines/: started once here and torn
# down at exit; when it can't run here, those suites skip with the reason the script printed.
if [ "${BERTH_TEST_DOCKER:-1}" != 0 ] && [ -z "${BERTH_ENGINE2_SOCK:-}" ]; then
  if engine2="$(bash scripts/second-engine.sh up)"; then
    set -a
    eval "$engine2"
    set +a
    trap 'rm -f "$report" "$corpus"; bash scripts/second-engine.sh down' EXIT
  else
    echo "note: second engine unavailable (${engine2:-see above}); test/engines multi-engine suites will skip" >&2
  fi
fi
if [ "$#" -gt 0 ]; then
  npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
  rc=$?
  node scripts/summary.mjs "$report" || { [ "$rc" -ne 0 ] && echo "0 passed, 1 failed"; }
  exit $rc
fi
# The whole run: every suite but the corpus, then the corpus on its own. Real repositories' own
# tests have timing assumptions (http-server's 120 ms socket timeout, jest's 5 s) that a machine
# also running berth's other suites on 2 cores breaks; alone, they get the machine they expect.
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" --exclude 'test/corpus/**'
rc=$?
npx vitest run --reporter=default --reporter=json --outputFile.json="$corpus" test/corpus
rc2=$?
node scripts/summary.mjs "$report" "$corpus"
[ "$rc" -ne 0 ] && exit $rc
exit $rc2
