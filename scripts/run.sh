#!/usr/bin/env bash
# Set up (idempotent) and start the assistant: Rasa, the action server and the chat API + widget
# on http://127.0.0.1:8000 (override with --host/--port), with prefixed logs; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-rasa.sh
exec .venv/bin/assistant up "$@"
