#!/usr/bin/env bash
# Install everything, then lint, type-check and run the whole test suite.
#   scripts/test.sh [pytest args...]      e.g. scripts/test.sh -k smoke -x
# Exit code: pytest's (0 = all passed; "no tests collected" counts as failure),
# or 1 when only ruff/mypy failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install.sh

# `tests.fixtures.*` must be importable whatever pytest's rootdir/conftest layout is.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

failed=()
step() {
  local name="$1"
  shift
  echo "[test] $name"
  if ! "$@"; then
    echo "[test] FAILED: $name" >&2
    failed+=("$name")
  fi
}

step "ruff check" .venv/bin/ruff check .
step "ruff format --check" .venv/bin/ruff format --check .
step "mypy" .venv/bin/mypy

if [[ -f web-client/package.json ]] &&
  node -e 'process.exit(require("./web-client/package.json").scripts?.test ? 0 : 1)'; then
  step "web-client tests (npm test)" bash -c 'cd web-client && npm test --silent'
fi

echo "[test] pytest -q $*"
set +e
# Hard upper bound so a hung test cannot eat CI's whole time budget (SIGINT first, so
# pytest still tears its service fixtures down).
timeout --foreground --signal=INT --kill-after=60 "${TEST_TIMEOUT_SECONDS:-2400}" .venv/bin/pytest -q "$@"
rc=$?
set -e

case "$rc" in
  0) ;;
  5)
    echo "[test] FAILED: pytest collected no tests" >&2
    rc=1
    ;;
  124 | 137) echo "[test] FAILED: pytest timed out after ${TEST_TIMEOUT_SECONDS:-2400}s" >&2 ;;
  *) echo "[test] FAILED: pytest (exit $rc)" >&2 ;;
esac

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "[test] failed steps: ${failed[*]}" >&2
  [[ "$rc" -ne 0 ]] || rc=1
fi
exit "$rc"
