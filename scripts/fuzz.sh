#!/usr/bin/env bash
# Fuzzes the request parsers: the property tests named fuzz_* in spillway-wire (Converse and
# InvokeModel bodies, modelId/ARN grammar, prompt templates) and spillway-auth (Authorization
# header, SigV4 headers, API keys), each with PROPTEST_CASES cases instead of the 256 the
# normal test run uses, then prints how many cases each target ran.
#
#   ./scripts/fuzz.sh            # 100000 cases per target
#   ./scripts/fuzz.sh 1000000    # more
#
# A failing case is shrunk and saved under crates/*/tests/proptest-regressions/ (commit it:
# every later run replays it first); add the input to crates/*/tests/corpus/ too.
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${1:-100000}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

status=0
PROPTEST_CASES="$cases" cargo nextest run -p spillway-wire -p spillway-auth \
  -E 'binary(/^fuzz_/)' --success-output final --failure-output final --no-fail-fast 2>&1 | tee "$log" || status=$?

echo
echo "== cases run per fuzz target (PROPTEST_CASES=$cases)"
grep -ohE 'fuzz [a-z_]+: [0-9]+ cases passed' "$log" | sort -u || true
exit "$status"
