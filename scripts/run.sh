#!/usr/bin/env bash
# Set up (idempotent) and start the assistant: an interactive chat in the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/assistant chat "$@"
