#!/usr/bin/env bash
# Fuzzes the request parsers: the property tests named fuzz_* in spillway-wire (Converse and
# InvokeModel bodies, modelId/ARN grammar, prompt templates) and spillway-auth (Authorization
# header, SigV4 headers, API keys), each with PROPTEST_CASES cases instead of the 128 the
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

# A profile of its own (target/fuzz): optimised like release, since 100 000 structured cases
# take hours in a debug build, but with overflow checks and debug assertions on, so that
# arithmetic bugs still panic.
export CARGO_PROFILE_FUZZ_INHERITS=release CARGO_PROFILE_FUZZ_OVERFLOW_CHECKS=true \
  CARGO_PROFILE_FUZZ_DEBUG_ASSERTIONS=true CARGO_PROFILE_FUZZ_DEBUG=line-tables-only

status=0
PROPTEST_CASES="$cases" cargo nextest run --cargo-profile fuzz -p spillway-wire -p spillway-auth \
  -E 'binary(/^fuzz_/)' --success-output immediate --failure-output final --no-fail-fast 2>&1 | tee "$log" || status=$?

echo
echo "== cases run per fuzz target (PROPTEST_CASES=$cases)"
grep -ohE 'fuzz [a-z0-9_]+: [0-9]+ cases passed' "$log" | sort -u || true
exit "$status"
