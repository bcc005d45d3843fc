"""``nlu_data/rasa_launcher.py``: Rasa's action-response check, compiled once, accepts and refuses exactly
what Rasa's own check does (run in the real Rasa 3.6 environment, ``.venv-rasa``)."""

from __future__ import annotations

import json
import subprocess

import pytest

from assistant.config import REPO_ROOT

pytestmark = pytest.mark.integration

PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
SCRIPT = r"""
import json, sys
sys.path.insert(0, "nlu_data")
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
import rasa_launcher

action = RemoteAction("action_answer", None)
good = {"events": [{"event": "slot", "name": "topic", "value": "cu_tru"}],
        "responses": [{"text": "Trả lời", "custom": {"reply": "Trả lời"}}]}
bad = [{"events": [{"event": "slot", "value": 1}]}, {"events": "x"}, {"events": [{"event": "slot", "timestamp": "hôm qua"}]},
       {"events": [{"no_event": True}]}]

def outcome(check, result):
    try:
        return ["ok", check(result)]
    except ValidationError as e:
        return ["error", e.message]

original = action._validate_action_result
before = [outcome(original, r) for r in [good, *bad] * 5]
rasa_launcher.install()
after = [outcome(action._validate_action_result, r) for r in [good, *bad] * 5]
info = rasa_launcher._validator.cache_info()
print(json.dumps({"before": before, "after": after, "built": info.misses, "reused": info.hits}))
"""


def test_the_cached_check_accepts_and_refuses_what_rasa_does():
    if not PYTHON.exists():
        pytest.fail("Rasa is not set up: run scripts/setup-rasa.sh (scripts/test.sh does)")
    run = subprocess.run([str(PYTHON), "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "RASA_TELEMETRY_ENABLED": "false", "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["after"] == got["before"]
    assert got["after"][0] == ["ok", True] and all(kind == "error" for kind, _ in got["after"][1:5])
    assert all("Failed to validate Action server response" in msg for _, msg in got["after"][1:5])
    assert (got["built"], got["reused"]) == (1, 24)  # schema checked and validator built once, then reused
