"""``assistant up``: Rasa, the action server and the app, started, watched and stopped together.

Three child processes, each in its own session so a terminal Ctrl-C reaches only this supervisor:

- ``rasa``: ``.venv-rasa/bin/python nlu_data/rasa_launcher.py run --enable-api --auth-token TOKEN -i 127.0.0.1
  -p RASA_PORT`` (Rasa's own CLI, see the launcher) with the
  trained model ``nlu_data/models/current.tar.gz`` (cwd ``nlu_data``, telemetry off); its endpoints
  file is ``nlu_data/endpoints.yml`` with ``action_endpoint`` pointed at ACTIONS_PORT;
- ``actions``: ``assistant actions`` on 127.0.0.1:ACTIONS_PORT (the engine behind Rasa's custom actions);
- ``app``: ``assistant serve --host H --port P`` with ``ASSISTANT_RASA_URL``/``ASSISTANT_RASA_TOKEN`` set.

Their output is copied line by line to stdout, prefixed ``[rasa] ``, ``[actions] ``, ``[app] `` (personal
numbers masked). Rasa and the action server start together; the app starts once both are healthy
(Rasa ``/status``, actions ``/health``), and ``up`` is ready when the app's ``/readyz`` answers 200.
Ctrl-C or SIGTERM stops every child (SIGINT, then SIGTERM after a grace period, then SIGKILL) and exits
0. A part that cannot start (missing, exits, not healthy in time) stops the others and exits 1; a
missing Rasa environment or model exits 2 with the command that creates it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Optional

import typer

from assistant.config import REPO_ROOT

NLU_DIR = REPO_ROOT / "nlu_data"
DEFAULT_RASA_VENV = REPO_ROOT / ".venv-rasa"
DEFAULT_MODEL = NLU_DIR / "models" / "current.tar.gz"
SETUP_HINT = "Create it with: bash scripts/setup-rasa.sh (installs Rasa 3.6 into .venv-rasa and trains the model)"
STOP_GRACE_S = 10.0
TERM_GRACE_S = 5.0


class StartError(Exception):
    """A part could not be started; the message says which and why."""


# ---------------------------------------------------------------------------------------------- probes
def http_status(url: str, timeout: float = 2.0) -> tuple[int | None, bytes]:
    """(status, body) of a GET, or (None, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (local URLs only)
            return r.status, r.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536) if exc.fp else b""
    except (OSError, ValueError):
        return None, b""


def port_in_use(host: str, port: int, *, udp: bool = False) -> bool:
    """Whether ``host:port`` cannot be bound (TCP, or UDP with ``udp``; IPv6 hosts and 0.0.0.0 too)."""
    host = "" if host == "0.0.0.0" else host
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as s:
        if not udp:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if this supervisor dies without stopping it (e.g. SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------- parts
@dataclass
class Part:
    """One child process and how to tell it is healthy."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    #: returns True when healthy; may raise StartError for a definite failure
    healthy: Callable[[], bool]
    proc: subprocess.Popen | None = None
    pump: threading.Thread | None = field(default=None, repr=False)
    started_at: float = 0.0


class Supervisor:
    """Starts parts, copies their output with a prefix, waits for health, stops them all."""

    def __init__(self, out: IO[str] | None = None, *, mask: bool = True):
        self.out = out or sys.stdout
        self.parts: list[Part] = []
        self.stop_requested = threading.Event()
        self._write_lock = threading.Lock()
        self._mask = mask

    def say(self, message: str, *, err: bool = False) -> None:
        with self._write_lock:
            stream = sys.stderr if err else self.out
            stream.write(f"[up] {message}\n")
            stream.flush()

    def _copy_output(self, part: Part) -> None:
        from assistant.privacy import mask_pii

        assert part.proc is not None and part.proc.stdout is not None
        for raw in iter(part.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if "\r" in line:  # a progress bar redrawn in place: keep its final state
                line = next((seg for seg in reversed(line.split("\r")) if seg.strip()), "")
            if self._mask:
                line = mask_pii(line)
            with self._write_lock:
                self.out.write(f"[{part.name}] {line}\n")
                self.out.flush()
        part.proc.stdout.close()

    def start(self, part: Part) -> None:
        if not Path(part.argv[0]).exists() and shutil.which(part.argv[0]) is None:
            raise StartError(f"{part.name}: {part.argv[0]} not found")
        try:
            part.proc = subprocess.Popen(part.argv, cwd=part.cwd, env=part.env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        except OSError as exc:
            raise StartError(f"{part.name}: cannot start {part.argv[0]}: {exc}") from exc
        part.started_at = time.monotonic()
        part.pump = threading.Thread(target=self._copy_output, args=(part,), name=f"up-{part.name}", daemon=True)
        part.pump.start()
        self.parts.append(part)
        self.say(f"{part.name} started (pid {part.proc.pid})")

    def wait_healthy(self, parts: list[Part], timeout: float, poll: float = 1.0) -> bool:
        """Wait until every part is healthy; False when a stop was requested meanwhile."""
        waiting = list(parts)
        while waiting:
            for part in list(waiting):
                assert part.proc is not None
                code = part.proc.poll()
                if code is not None:
                    raise StartError(f"{part.name} exited with code {code} while starting "
                                     f"(see the [{part.name}] lines above)")
                if part.healthy():
                    self.say(f"{part.name} is healthy ({time.monotonic() - part.started_at:.0f} s)")
                    waiting.remove(part)
                elif time.monotonic() - part.started_at > timeout:
                    raise StartError(f"{part.name} was not healthy after {timeout:.0f} s")
            if waiting and self.stop_requested.wait(poll):
                return False
        return True

    def watch(self, poll: float = 0.5) -> Part | None:
        """Block until a stop is requested (None) or a part exits on its own (that part)."""
        while not self.stop_requested.wait(poll):
            for part in self.parts:
                if part.proc is not None and part.proc.poll() is not None:
                    return part
        return None

    def _signal(self, part: Part, sig: int) -> None:
        if part.proc is None or part.proc.poll() is not None:
            return
        try:
            os.killpg(part.proc.pid, sig)  # the child leads its own session: its helpers get it too
        except ProcessLookupError:
            pass
        except PermissionError:
            part.proc.send_signal(sig)

    def _wait_all(self, deadline: float) -> list[Part]:
        left = [p for p in self.parts if p.proc is not None]
        while left and time.monotonic() < deadline:
            left = [p for p in left if p.proc.poll() is None]
            if left:
                time.sleep(0.1)
        return [p for p in left if p.proc.poll() is None]

    def stop_all(self, grace: float = STOP_GRACE_S, term_grace: float = TERM_GRACE_S) -> None:
        """SIGINT every running part, SIGTERM after ``grace`` s, SIGKILL after ``term_grace`` more."""
        running = [p for p in self.parts if p.proc is not None and p.proc.poll() is None]
        if running:
            self.say("stopping " + ", ".join(p.name for p in running))
        for p in running:
            self._signal(p, signal.SIGINT)
        left = self._wait_all(time.monotonic() + grace)
        if left:
            self.say("still running after SIGINT, sending SIGTERM: " + ", ".join(p.name for p in left))
            for p in left:
                self._signal(p, signal.SIGTERM)
            left = self._wait_all(time.monotonic() + term_grace)
        for p in left:
            self.say(f"{p.name} did not stop, killing it")
            self._signal(p, signal.SIGKILL)
        for p in self.parts:
            if p.proc is not None:
                try:
                    p.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                # descendants that ignored the group signal: kill the rest of the group
                try:
                    os.killpg(p.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if p.pump is not None:
                p.pump.join(timeout=5)
        for p in self.parts:
            if p.proc is not None:
                self.say(f"{p.name} stopped (exit code {p.proc.returncode})")


# ---------------------------------------------------------------------------------------------- config
def rasa_endpoints(source: Path, actions_port: int, dest: Path) -> Path:
    """``source`` (if any) with ``action_endpoint.url`` pointed at the local action server."""
    import yaml

    data = {}
    if source.is_file():
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    action_endpoint = data.get("action_endpoint") if isinstance(data.get("action_endpoint"), dict) else {}
    data["action_endpoint"] = {**action_endpoint, "url": f"http://127.0.0.1:{actions_port}/webhook"}
    dest.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dest


def check_rasa_install(venv: Path, model: Path) -> str | None:
    """A message saying what is missing (None when Rasa and the model are there)."""
    for exe in (venv / "bin" / "rasa", venv / "bin" / "python"):
        if not exe.is_file() or not os.access(exe, os.X_OK):
            return f"Rasa is not installed: {exe} not found. {SETUP_HINT}."
    if not model.is_file():
        return f"No trained Rasa model at {model}. {SETUP_HINT}."
    return None


def _probe_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED="1", TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    env.update(extra or {})
    return env


def build_parts(*, host: str, port: int, rasa_port: int, actions_port: int, venv: Path, model: Path,
                token: str, workdir: Path) -> tuple[Part, Part, Part]:
    rasa_env = _python_env({"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
                            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                            "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::PendingDeprecationWarning"})
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):  # the app's 3.11 paths mean nothing to Rasa's 3.10
        rasa_env.pop(name, None)
    endpoints = rasa_endpoints(NLU_DIR / "endpoints.yml", actions_port, workdir / "endpoints.yml")
    credentials = NLU_DIR / "credentials.yml"
    if not credentials.is_file():
        credentials = workdir / "credentials.yml"
        credentials.write_text("rest:\n", encoding="utf-8")
    rasa_url = f"http://127.0.0.1:{rasa_port}"

    def rasa_healthy() -> bool:
        status, _ = http_status(f"{rasa_url}/status?token={token}")
        return status == 200

    def actions_healthy() -> bool:
        status, _ = http_status(f"http://127.0.0.1:{actions_port}/health")
        return status == 200

    app_url = f"http://{_probe_host(host)}:{port}"

    def app_healthy() -> bool:
        status, body = http_status(f"{app_url}/readyz")
        if status == 200:
            return True
        try:
            state = json.loads(body or b"{}")
        except ValueError:
            return False
        if isinstance(state, dict) and state.get("status") == "failed":
            raise StartError(f"app failed to load: {state.get('error', 'unknown error')}")
        return False

    me = [sys.executable, "-m", "assistant.cli.main"]
    # nlu_data/rasa_launcher.py: Rasa's own CLI, with its per-turn JSON-schema meta-check done once
    rasa = Part("rasa", [str(venv / "bin" / "python"), str(NLU_DIR / "rasa_launcher.py"), "run", "--enable-api",
                         "--auth-token", token,
                         "-i", "127.0.0.1", "-p", str(rasa_port), "--model", str(model.resolve()),
                         "--endpoints", str(endpoints), "--credentials", str(credentials.resolve())],
                NLU_DIR, rasa_env, rasa_healthy)
    # The action server shares the 2 cores with Rasa and the app: one torch thread per query answered
    # faster under that contention than two (dialogue_latency.md); ASSISTANT_TORCH_THREADS overrides.
    actions = Part("actions", [*me, "actions", "--host", "127.0.0.1", "--port", str(actions_port)], REPO_ROOT,
                   _python_env({"ASSISTANT_TORCH_THREADS": os.environ.get("ASSISTANT_TORCH_THREADS", "1")}),
                   actions_healthy)
    app = Part("app", [*me, "serve", "--host", host, "--port", str(port)], REPO_ROOT,
               _python_env({"ASSISTANT_RASA_URL": rasa_url, "ASSISTANT_RASA_TOKEN": token}), app_healthy)
    return rasa, actions, app


def run_up(*, host: str, port: int, rasa_port: int, actions_port: int, venv: Path, model: Path,
           ready_timeout: float, out: IO[str] | None = None) -> int:
    """Start everything, wait for Ctrl-C/SIGTERM, stop everything; the exit code."""
    problem = check_rasa_install(venv, model)
    if problem:
        typer.echo(f"assistant up: {problem}", err=True)
        return 2
    from assistant.config import get_settings
    from voice.sip.probe import sip_part, sip_port_problems

    busy = [f"{name} port {p}" for name, h, p in (("app", host, port), ("rasa", "127.0.0.1", rasa_port),
                                                  ("actions", "127.0.0.1", actions_port)) if port_in_use(h, p)]
    if len({port, rasa_port, actions_port}) < 3:
        busy.append("the app, rasa and actions ports must differ")
    busy += sip_port_problems(get_settings(), {port, rasa_port, actions_port})  # [] unless ASSISTANT_SIP_ENABLED
    if busy:
        typer.echo("assistant up: cannot start: " + "; ".join(busy) + " (in use)", err=True)
        return 1

    token = os.environ.get("ASSISTANT_RASA_TOKEN") or secrets.token_urlsafe(24)
    sup = Supervisor(out)
    previous = {}

    def request_stop(signum, _frame):
        if not sup.stop_requested.is_set():
            sup.say(f"{signal.Signals(signum).name} received")
        sup.stop_requested.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, request_stop)
    code = 0
    with tempfile.TemporaryDirectory(prefix="assistant-up-") as tmp:
        try:
            rasa, actions, app = build_parts(host=host, port=port, rasa_port=rasa_port, actions_port=actions_port,
                                             venv=venv, model=model, token=token, workdir=Path(tmp))
            sup.start(rasa)
            sup.start(actions)
            if sup.wait_healthy([rasa, actions], ready_timeout):
                sup.start(app)
                sip = sip_part(get_settings(), _python_env({"ASSISTANT_RASA_URL": f"http://127.0.0.1:{rasa_port}",
                                                            "ASSISTANT_RASA_TOKEN": token}))  # ASSISTANT_SIP_ENABLED
                if sip is not None:
                    sup.start(sip)
                if sup.wait_healthy([app] + ([sip] if sip is not None else []), ready_timeout):
                    sup.say(f"ready: http://{_probe_host(host)}:{port} (Rasa on 127.0.0.1:{rasa_port}, "
                            f"actions on 127.0.0.1:{actions_port}); Ctrl-C to stop")
                    died = sup.watch()
                    if died is not None:
                        typer.echo(f"assistant up: {died.name} exited on its own (code {died.proc.returncode}); "
                                   "stopping the others", err=True)
                        code = 1
        except StartError as exc:
            typer.echo(f"assistant up: {exc}; stopping the others", err=True)
            code = 1
        finally:
            sup.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return code


# ---------------------------------------------------------------------------------------------- commands
def up(
    host: Annotated[str, typer.Option(help="address the app binds")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="app port")] = 8000,
    rasa_port: Annotated[int, typer.Option("--rasa-port", help="Rasa port (127.0.0.1)")] = 5005,
    actions_port: Annotated[int, typer.Option("--actions-port", help="action server port (127.0.0.1)")] = 5055,
    rasa_venv: Annotated[Optional[Path], typer.Option("--rasa-venv", envvar="ASSISTANT_RASA_VENV",
                                                      help="Rasa's Python 3.10 environment")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", envvar="ASSISTANT_RASA_MODEL",
                                                  help="trained Rasa model")] = None,
    ready_timeout: Annotated[float, typer.Option("--ready-timeout", help="seconds each part may take to be healthy")]
    = 180.0,
) -> None:
    """Run Rasa, the action server and the app together (Ctrl-C stops all three)."""
    code = run_up(host=host, port=port, rasa_port=rasa_port, actions_port=actions_port,
                  venv=rasa_venv or DEFAULT_RASA_VENV, model=model or DEFAULT_MODEL, ready_timeout=ready_timeout)
    raise typer.Exit(code)


def actions(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 5055,
) -> None:
    """Run the Rasa action server (loads the knowledge engine once; logs mask personal numbers)."""
    from assistant.config import get_settings
    from assistant.dialogue.rasa_actions import serve

    serve(host, port, log_level=get_settings().log_level)


def register(app: typer.Typer) -> None:
    """Add ``up`` and ``actions`` to the ``assistant`` command."""
    app.command("up")(up)
    app.command("actions")(actions)
