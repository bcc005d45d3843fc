#!/usr/bin/env bash
# Set up (idempotent) and start the assistant: the chat API and web widget on http://127.0.0.1:8000
# (override with --host/--port). `.venv/bin/assistant chat` is the terminal version.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/assistant serve "$@"
