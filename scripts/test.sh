#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up, lint, typecheck, format check, the full vitest suite
# against real bwrap sandboxes, the real Claude CLI, SQLite and a real PostgreSQL this script starts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

BERTH_TEST_DATABASE_URL=$(bash scripts/postgres.sh start)
export BERTH_TEST_DATABASE_URL
trap 'bash scripts/postgres.sh stop' EXIT

npm run --silent lint
npm run --silent typecheck
npm run --silent format:check

mkdir -p .test-results
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-results/vitest.json "$@"
status=$?
set -e
# One plain closing line: "N passed, N failed, N skipped".
node -e '
  const r = JSON.parse(require("fs").readFileSync(".test-results/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit $status
