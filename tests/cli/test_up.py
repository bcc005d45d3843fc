"""``assistant up``: start-up checks, failure handling, clean shutdown; then the real thing with Rasa.

The fast tests use a stand-in ``rasa`` executable (a small Python HTTP server written into a temporary
"venv"); the ``integration`` test runs the real Rasa 3.6 from ``.venv-rasa`` with the trained model that
``scripts/setup-rasa.sh`` creates, and fails (not skips) when they are missing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from assistant.cli.up import DEFAULT_MODEL, DEFAULT_RASA_VENV, Part, Supervisor, rasa_endpoints
from assistant.config import REPO_ROOT

FAKE_RASA = textwrap.dedent('''\
    #!{python}
    """Stand-in for `rasa run`: records its arguments, serves /status and / until SIGINT."""
    import json, os, signal, sys, threading, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    args = sys.argv[1:]
    with open(os.environ["FAKE_RASA_ARGS"], "w") as f:
        json.dump({{"args": args, "cwd": os.getcwd(), "telemetry": os.environ.get("RASA_TELEMETRY_ENABLED")}}, f)
    mode = os.environ.get("FAKE_RASA_MODE", "ok")
    print("fake rasa starting", mode, flush=True)
    if mode == "exit":
        sys.exit(3)
    if mode == "hang":
        while True:
            time.sleep(1)
    token = args[args.index("--auth-token") + 1]
    port = int(args[args.index("-p") + 1])

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            ok = self.path == "/" or self.path == "/status?token=" + token
            body = json.dumps({{"model_file": "fake.tar.gz"}} if ok else {{"error": "auth"}}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), H)
    signal.signal(signal.SIGINT, lambda *a: threading.Thread(target=server.shutdown).start())
    print("fake rasa up on", port, "phone 0912345678", flush=True)
    server.serve_forever()
    print("fake rasa stopped", flush=True)
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_rasa_venv(tmp_path: Path) -> tuple[Path, Path]:
    venv = tmp_path / "venv-rasa"
    (venv / "bin").mkdir(parents=True)
    for name in ("rasa", "python"):  # `up` runs `bin/python nlu_data/rasa_launcher.py run …`
        exe = venv / "bin" / name
        exe.write_text(FAKE_RASA.format(python=sys.executable), encoding="utf-8")
        exe.chmod(0o755)
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"not a model")
    return venv, model


class Up:
    """``assistant up`` as a subprocess, its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "assistant.cli.main", "up", *args], cwd=REPO_ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.lines: list[str] = []
        self.err: list[str] = []
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr ---\n" + "\n".join(self.err)

    def pids(self) -> dict[str, int]:
        found = {}
        for line in self.lines:
            m = re.match(r"\[up\] (\w+) started \(pid (\d+)\)", line)
            if m:
                found[m.group(1)] = int(m.group(2))
        return found

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for pid in self.pids().values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def get(url: str, timeout: float = 3.0) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (OSError, ValueError):
        return None, {}


def post(url: str, body: dict, timeout: float = 30.0) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def wait_ready(up: Up, port: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert up.proc.poll() is None, f"assistant up exited with {up.proc.returncode}:\n{up.output}"
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        if status == 200:
            return body
        time.sleep(1)
    raise AssertionError(f"the app was not ready in {timeout:.0f} s:\n{up.output}")


def stop_and_check(up: Up, ports: list[int]) -> None:
    pids = up.pids()
    assert set(pids) == {"rasa", "actions", "app"}, up.output
    up.proc.send_signal(signal.SIGINT)
    assert up.wait(timeout=90) == 0, up.output
    for name, pid in pids.items():
        assert not alive(pid), f"{name} (pid {pid}) still running:\n{up.output}"
    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


# ------------------------------------------------------------------------------------------- fast checks
def test_missing_rasa_venv_exits_2_with_the_setup_command(tmp_path):
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "assistant.cli.main", "up", "--port", str(free_port())],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "ASSISTANT_RASA_VENV": str(tmp_path / "no-such-venv")})
    assert r.returncode == 2, r.stderr
    assert "Rasa is not installed" in r.stderr and str(tmp_path / "no-such-venv") in r.stderr
    assert "scripts/setup-rasa.sh" in r.stderr
    assert "started" not in r.stdout  # nothing was started
    assert time.monotonic() - started < 30


def test_missing_model_exits_2(tmp_path):
    venv, _ = fake_rasa_venv(tmp_path)
    r = subprocess.run([sys.executable, "-m", "assistant.cli.main", "up", "--rasa-venv", str(venv),
                        "--model", str(tmp_path / "missing.tar.gz")],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "No trained Rasa model" in r.stderr and "scripts/setup-rasa.sh" in r.stderr


def test_busy_port_is_refused(tmp_path):
    venv, model = fake_rasa_venv(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "assistant.cli.main", "up", "--rasa-venv", str(venv),
                            "--model", str(model), "--port", str(free_port()), "--rasa-port", str(port),
                            "--actions-port", str(free_port())],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"rasa port {port}" in r.stderr and "in use" in r.stderr


def test_rasa_exiting_early_stops_the_others(tmp_path):
    venv, model = fake_rasa_venv(tmp_path)
    up = Up(["--rasa-venv", str(venv), "--model", str(model), "--port", str(free_port()),
             "--rasa-port", str(free_port()), "--actions-port", str(free_port())],
            env={"FAKE_RASA_ARGS": str(tmp_path / "args.json"), "FAKE_RASA_MODE": "exit"})
    try:
        assert up.wait(timeout=90) == 1, up.output
    finally:
        up.kill()
    assert "rasa exited with code 3 while starting" in up.output
    assert "[rasa] fake rasa starting exit" in up.lines
    pids = up.pids()
    assert "actions" in pids and "app" not in pids
    assert not alive(pids["actions"])


def test_part_not_healthy_in_time_is_stopped(tmp_path):
    venv, model = fake_rasa_venv(tmp_path)
    up = Up(["--rasa-venv", str(venv), "--model", str(model), "--port", str(free_port()),
             "--rasa-port", str(free_port()), "--actions-port", str(free_port()), "--ready-timeout", "3"],
            env={"FAKE_RASA_ARGS": str(tmp_path / "args.json"), "FAKE_RASA_MODE": "hang"})
    try:
        assert up.wait(timeout=90) == 1, up.output
    finally:
        up.kill()
    assert re.search(r"(rasa|actions) was not healthy after 3 s", up.output), up.output
    assert all(not alive(pid) for pid in up.pids().values())


def test_stop_escalates_to_sigterm_and_sigkill():
    stubborn = ("import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)")
    polite = "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('bye', flush=True)"
    import io

    out = io.StringIO()
    sup = Supervisor(out)
    parts = [Part("stubborn", [sys.executable, "-c", stubborn], REPO_ROOT, dict(os.environ), lambda: True),
             Part("polite", [sys.executable, "-c", polite], REPO_ROOT, dict(os.environ), lambda: True)]
    for p in parts:
        sup.start(p)
    time.sleep(1.0)
    started = time.monotonic()
    sup.stop_all(grace=1.0, term_grace=1.0)
    assert time.monotonic() - started < 10
    assert all(p.proc.poll() is not None for p in parts)
    assert parts[0].proc.returncode == -signal.SIGKILL
    assert parts[1].proc.returncode == 0
    text = out.getvalue()
    assert "[stubborn] ready" in text and "[polite] bye" in text
    assert "sending SIGTERM: stubborn" in text and "stubborn did not stop, killing it" in text


def test_endpoints_point_rasa_at_the_action_port(tmp_path):
    source = tmp_path / "endpoints.yml"
    source.write_text('action_endpoint:\n  url: "http://127.0.0.1:5055/webhook"\n  token: x\n'
                      "tracker_store:\n  type: redis\n", encoding="utf-8")
    data = yaml.safe_load(rasa_endpoints(source, 6123, tmp_path / "out.yml").read_text(encoding="utf-8"))
    assert data == {"action_endpoint": {"url": "http://127.0.0.1:6123/webhook", "token": "x"},
                    "tracker_store": {"type": "redis"}}
    data = yaml.safe_load(rasa_endpoints(tmp_path / "none.yml", 6124, tmp_path / "out2.yml").read_text())
    assert data == {"action_endpoint": {"url": "http://127.0.0.1:6124/webhook"}}


@pytest.mark.slow
def test_up_with_a_stand_in_rasa_starts_and_stops_everything(tmp_path):
    """The whole supervisor flow (real action server and app, a stand-in for Rasa)."""
    venv, model = fake_rasa_venv(tmp_path)
    port, rasa_port, actions_port = free_port(), free_port(), free_port()
    up = Up(["--rasa-venv", str(venv), "--model", str(model), "--port", str(port), "--rasa-port", str(rasa_port),
             "--actions-port", str(actions_port)],
            env={"FAKE_RASA_ARGS": str(tmp_path / "args.json"), "ASSISTANT_RASA_TOKEN": "test-token-123",
                 "ASSISTANT_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"})
    try:
        ready = wait_ready(up, port, 240)
        assert ready["dialogue_backend"] == "rasa"  # the app got ASSISTANT_RASA_URL/TOKEN and Rasa answers
        assert get(f"http://127.0.0.1:{actions_port}/health")[0] == 200
        assert any(line.startswith("[up] ready: ") for line in up.lines)
        stop_and_check(up, [port, rasa_port, actions_port])
    finally:
        up.kill()
    recorded = json.loads((tmp_path / "args.json").read_text())
    launcher, *args = recorded["args"]
    assert Path(launcher).name == "rasa_launcher.py"
    assert args[:2] == ["run", "--enable-api"]
    assert args[args.index("--auth-token") + 1] == "test-token-123"
    assert args[args.index("-i") + 1] == "127.0.0.1" and args[args.index("-p") + 1] == str(rasa_port)
    assert args[args.index("--model") + 1] == str(model.resolve())
    assert Path(args[args.index("--credentials") + 1]).name == "credentials.yml"
    assert recorded["cwd"] == str(REPO_ROOT / "nlu_data") and recorded["telemetry"] == "false"
    for prefix in ("[rasa] ", "[actions] ", "[app] "):
        assert any(line.startswith(prefix) for line in up.lines), prefix
    assert "[rasa] fake rasa up on" in up.output and "0912345678" not in up.output  # masked
    assert not Path(args[args.index("--endpoints") + 1]).exists()  # temporary files removed


# ------------------------------------------------------------------------------------------- the real thing
@pytest.mark.integration
@pytest.mark.slow
def test_up_runs_rasa_actions_and_app_together(tmp_path):
    venv = Path(os.environ.get("ASSISTANT_RASA_VENV") or DEFAULT_RASA_VENV)
    model = Path(os.environ.get("ASSISTANT_RASA_MODEL") or DEFAULT_MODEL)
    problems = [str(p) for p in (venv / "bin" / "rasa", model) if not p.exists()]
    assert not problems, (f"missing {', '.join(problems)}: run `bash scripts/setup-rasa.sh` (Rasa 3.6 in .venv-rasa "
                          "and the trained model nlu_data/models/current.tar.gz) before the integration tests")
    port, rasa_port, actions_port = free_port(), free_port(), free_port()
    up = Up(["--port", str(port), "--rasa-port", str(rasa_port), "--actions-port", str(actions_port),
             "--rasa-venv", str(venv), "--model", str(model), "--ready-timeout", "300"],
            env={"ASSISTANT_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"})
    try:
        ready = wait_ready(up, port, 600)
        assert ready["dialogue_backend"] == "rasa", ready
        # one clarifying exchange, app → Rasa → action server → engine, the session id as Rasa's sender
        chat = f"http://127.0.0.1:{port}/api/v1/chat"
        first = post(chat, {"message": "làm căn cước"})
        assert first["abstained"] is True and first["topic"] == "can_cuoc", first
        assert first["reply"].startswith("Bạn muốn làm thẻ căn cước lần đầu"), first
        assert len(first["suggestions"]) == 3, first
        second = post(chat, {"session_id": first["session_id"], "message": "cấp lại"})
        assert second["abstained"] is False and second["topic"] == "can_cuoc" and second["citations"], (
            "the reply 'cấp lại' was not combined with the pending clarifying question 'làm căn cước'. Was the slot "
            "pending_question reset? In nlu_data/domain.yml a slot mapping `type: custom` with an `action:` key "
            f"makes Rasa run that action after every user message. Reply: {second}")
        stop_and_check(up, [port, rasa_port, actions_port])
    finally:
        up.kill()
