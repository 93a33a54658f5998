#!/usr/bin/env bash
# Run the server in demo mode: Python install only (no apt, no Go), then the server.
#   scripts/demo.sh [server args...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install.sh --python-only
exec .venv/bin/python -m server --demo "$@"
