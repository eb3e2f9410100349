"""Robustness of the real stack: odd and malformed REST requests, and how `make run` binds, starts and stops.

- An empty or whitespace-only message gets the NLU fallback's answer (bot/components.py), never a crash of
  Rasa's classifier and an empty reply.
- A malformed request gets 400 with a JSON error (bot/channels.py), never a 500 or a traceback in Rasa's log.
- scripts/run.sh binds to 127.0.0.1, refuses the development RASA_TOKEN outside development, keeps the
  previous run's logs, and stops all three servers on Ctrl-C even when its output goes through `| tee` and
  tee dies first; rediss:// REDIS_URLs switch Rasa's Redis stores to TLS.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import LiveStack, _free_port, _redis_env

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
RUN_TIMEOUT_S = float(os.environ.get("E2E_STARTUP_TIMEOUT", "300"))
REFUSED_UPDATE = "telegram: update refused"  # bot/channels.py logs it for an update with a wrong secret token


def _fallback_texts() -> set[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    return {variant["text"] for variant in domain["responses"]["utter_fallback"] if "text" in variant}


class _LogWatch:
    """What a server wrote to its log since this object was created."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def new_text(self) -> str:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def settled_text(self, stack: LiveStack, deadline_s: float = 30.0) -> str:
        """:meth:`new_text` once the server has logged a later request's own line (the signal that what the
        requests before it logged is in the file): a Telegram update with a wrong secret token, which Rasa's
        Telegram channel refuses with a warning while it handles it."""
        seen = self.new_text().count(REFUSED_UPDATE)
        response = httpx.post(f"{stack.rasa_url}/webhooks/telegram/webhook", content=b"{}", timeout=30,
                              headers={"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"})
        assert response.status_code == 403, response.text
        t0 = time.monotonic()
        while (text := self.new_text()).count(REFUSED_UPDATE) <= seen:
            assert time.monotonic() - t0 < deadline_s, f"the marker line was not logged in {deadline_s:.0f} s"
            time.sleep(0.05)
        return text


def _assert_no_error_logged(text: str) -> None:
    for marker in ("Traceback", "GraphComponentException", "rest.message.received.failure", "Exception"):
        assert marker not in text, f"Rasa logged {marker!r}:\n{text[-3000:]}"


# --- empty and whitespace-only messages ----------------------------------------------------------------


@pytest.mark.parametrize("message", ["", "   ", "\n\t"], ids=["empty", "spaces", "newline-tab"])
def test_blank_message_gets_the_fallback_answer(live_stack: LiveStack, message: str) -> None:
    log = _LogWatch(live_stack.logs["rasa"])
    sender = live_stack.new_sender("blank")

    replies = live_stack.texts(sender, message)

    assert replies, f"no reply to {message!r}"
    assert replies[0] in _fallback_texts()
    tracker = live_stack.tracker(sender)
    assert tracker["latest_message"]["intent"]["name"] == "nlu_fallback"
    _assert_no_error_logged(log.settled_text(live_stack))


def test_conversation_goes_on_after_a_blank_message(live_stack: LiveStack) -> None:
    sender = live_stack.new_sender("blank")
    live_stack.chat(sender, "  ")
    assert live_stack.tracker(sender)["latest_message"]["intent"]["name"] == "nlu_fallback"
    assert live_stack.texts(sender, "hello")
    assert live_stack.tracker(sender)["latest_message"]["intent"]["name"] == "greet"


# --- malformed requests --------------------------------------------------------------------------------


BAD_REQUESTS: list[tuple[str, Any, str]] = [
    ("list-body", b"[]", "JSON object"),
    ("string-body", b'"hello"', "JSON object"),
    ("empty-body", b"", "empty request body"),
    ("blank-body", b"  \n", "empty request body"),
    ("not-json", b"{not json", "not valid JSON"),
    ("no-message", {"sender": "bad-x"}, '"message"'),
    ("null-message", {"sender": "bad-x", "message": None}, '"message"'),
    ("number-message", {"sender": "bad-x", "message": 5}, '"message"'),
    ("list-message", {"sender": "bad-x", "message": ["hi"]}, '"message"'),
    ("string-metadata", {"sender": "bad-x", "message": "hi", "metadata": "token"}, '"metadata"'),
    ("list-metadata", {"sender": "bad-x", "message": "hi", "metadata": []}, '"metadata"'),
    ("no-sender", {"message": "hi"}, '"sender"'),
    ("number-sender", {"sender": 5, "message": "hi"}, '"sender"'),
    ("surrogate-sender", b'{"sender": "sur-\\udc00x", "message": "hi"}', '"sender"'),  # JSON escape, raw bytes
    ("control-sender", {"sender": "bad\nx", "message": "hi"}, '"sender"'),
    ("long-message", {"sender": "bad-x", "message": "a" * 5001}, "at most 5000 characters"),
    ("huge-body", {"sender": "bad-x", "message": "a" * 100_000}, "larger than 64 kB"),
]


@pytest.mark.parametrize(("body", "says"), [(b, s) for _, b, s in BAD_REQUESTS], ids=[i for i, _, _ in BAD_REQUESTS])
def test_malformed_request_is_a_400_with_a_json_error(live_stack: LiveStack, body: Any, says: str) -> None:
    log = _LogWatch(live_stack.logs["rasa"])

    response = live_stack.post_raw(body)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert says in error
    _assert_no_error_logged(log.settled_text(live_stack))


@pytest.mark.parametrize("command", ["/restart", "/session_start"])
def test_rasa_commands_that_answer_nothing_get_no_apology(live_stack: LiveStack, command: str) -> None:
    sender = live_stack.new_sender("command")
    assert live_stack.texts(sender, "hello")
    assert not any("went wrong" in t for t in live_stack.texts(sender, command))
    assert not any("went wrong" in t for t in live_stack.texts(sender, "hello"))


def test_a_bad_request_does_not_create_a_conversation(live_stack: LiveStack) -> None:
    sender = live_stack.new_sender("bad")
    assert live_stack.post_raw({"sender": sender, "message": 5}).status_code == 400
    events = live_stack.tracker(sender)["events"]
    assert not any(e["event"] == "user" for e in events)


def test_valid_requests_still_work(live_stack: LiveStack) -> None:
    """null metadata and an empty metadata object are fine; the health route of the channel still answers."""
    sender = live_stack.new_sender("ok")
    for body in ({"sender": sender, "message": "hello", "metadata": None},
                 {"sender": sender, "message": "hello", "metadata": {}}):
        response = live_stack.post_raw(body)
        assert response.status_code == 200
        assert response.json(), "no reply"
    health = live_stack._http.get(f"{live_stack.rasa_url}/webhooks/rest/")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


# --- Redis over TLS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "connection"), [
    ("redis://:secret@127.0.0.1:6379/2", "Connection"),
    ("rediss://:secret@127.0.0.1:6380/2", "SSLConnection"),
])
def test_redis_url_scheme_selects_tls_in_rasas_stores(url: str, connection: str) -> None:
    """bot/endpoints.redis.yml as Rasa 3.6 reads it: rediss:// -> TLS for the tracker and the lock store."""
    code = (
        "from rasa.core.utils import read_endpoints_from_path\n"
        "from rasa.core.lock_store import LockStore\n"
        "from rasa.core.tracker_store import TrackerStore\n"
        "from rasa.shared.core.domain import Domain\n"
        "e = read_endpoints_from_path('bot/endpoints.redis.yml')\n"
        "for store in (LockStore.create(e.lock_store), TrackerStore.create(e.tracker_store, Domain.empty())):\n"
        "    pool = store.red.connection_pool\n"
        "    print(pool.connection_class.__name__, pool.connection_kwargs['port'], pool.connection_kwargs['db'])\n"
    )
    env = {**os.environ, **_redis_env(url), "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3",
           "ACTION_SERVER_TOKEN": "test"}  # the action endpoint's header interpolates it
    done = subprocess.run([str(RASA_PY), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()[-2:]
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert [line.split()[0] for line in lines] == [connection, connection]
    assert all(line.split()[1:] == [port, "2"] for line in lines)


# --- scripts/run.sh ------------------------------------------------------------------------------------


def _run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HOST", "RASA_TOKEN", "ENVIRONMENT")}
    env.update(LOG_DIR=str(tmp_path / "log"), RUN_DIR=str(tmp_path / "run"), **extra)
    return env


def test_run_refuses_the_development_rasa_token_outside_development(tmp_path: Path) -> None:
    done = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, env=_run_env(tmp_path, ENVIRONMENT="production"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "RASA_TOKEN" in done.stderr and "development default" in done.stderr


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a listening socket on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.append(address)
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_run_binds_to_localhost_keeps_old_logs_and_ctrl_c_through_tee_stops_everything(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    """`scripts/run.sh 2>&1 | tee` then Ctrl-C (SIGINT to the whole foreground group, so tee dies too)."""
    ports = {"RASA_PORT": _free_port(), "ACTION_PORT": _free_port(), "API_PORT": _free_port()}
    assert len(set(ports.values())) == 3
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    (log_dir / "rasa.log").write_text("the previous run\n")
    out = tmp_path / "out.log"
    env = _run_env(tmp_path, DATABASE_URL=live_stack.database_url, **{k: str(v) for k, v in ports.items()})
    group = subprocess.Popen(
        ["bash", "-c", f"bash scripts/run.sh 2>&1 | tee {out}"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=_terminal_signals,
    )
    try:
        t0 = time.monotonic()
        while "Nova is running" not in (out.read_text(errors="replace") if out.exists() else ""):
            assert group.poll() is None, f"run.sh ended early:\n{out.read_text(errors='replace')[-3000:]}"
            assert time.monotonic() - t0 < RUN_TIMEOUT_S * 2, "run.sh did not start in time"
            time.sleep(1)

        assert (log_dir / "rasa.log.1").read_text() == "the previous run\n"
        # `make stop` finds this copy by its PID file: the run.sh process itself, running from this checkout
        pid = int((tmp_path / "run" / "run.pid").read_text())
        assert "scripts/run.sh" in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "startup sweep" in (log_dir / "campaigns.log").read_text()  # the campaign worker is up too
        for name in ("rasa", "actions", "api", "feed"):  # umask 077: the logs are owner-only
            assert (log_dir / f"{name}.log").stat().st_mode & 0o077 == 0, f"{name}.log is readable by others"
        assert "the previous run" not in (log_dir / "rasa.log").read_text()
        for name, port in ports.items():
            assert _listening(port) == ["0100007F"], f"{name} {port} listens on {_listening(port)}, not 127.0.0.1"

        os.killpg(group.pid, signal.SIGINT)
        group.wait(timeout=60)
        deadline = time.monotonic() + 30
        while not all(_port_free(p) for p in ports.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
        still = {name: port for name, port in ports.items() if not _port_free(port)}
        assert not still, f"still listening after Ctrl-C: {still}\n{out.read_text(errors='replace')[-2000:]}"
    finally:
        if group.poll() is None:
            os.killpg(group.pid, signal.SIGKILL)
        _kill_leftovers(ports.values())


def test_make_stop_stops_this_copy_by_its_pid_file_and_nothing_else(tmp_path: Path) -> None:
    """scripts/stop.sh signals only the PID in RUN_DIR/run.pid, and only if it is this checkout's run.sh."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {**os.environ, "RUN_DIR": str(run_dir)}
    # stand-ins named like run.sh: one started from this checkout, one from elsewhere (another copy)
    ours = subprocess.Popen(["bash", "-c", 'exec -a "bash scripts/run.sh" sleep 120'], cwd=ROOT)
    other = subprocess.Popen(["bash", "-c", 'exec -a "bash scripts/run.sh" sleep 120'], cwd=tmp_path)
    try:
        time.sleep(0.3)  # both have exec'd
        (run_dir / "run.pid").write_text(f"{other.pid}\n")  # a stale file naming another copy's process
        done = subprocess.run(["bash", "scripts/stop.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "not this checkout" in done.stdout, done.stdout + done.stderr
        assert other.poll() is None and ours.poll() is None
        (run_dir / "run.pid").write_text(f"{ours.pid}\n")
        done = subprocess.run(["bash", "scripts/stop.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "stopped" in done.stdout, done.stdout + done.stderr
        assert ours.wait(timeout=10) == -signal.SIGTERM
        assert other.poll() is None  # the other copy keeps running
    finally:
        for proc in (ours, other):
            if proc.poll() is None:
                proc.kill()


def _terminal_signals() -> None:
    """In the child, before exec: SIGINT as a terminal delivers it (default action, not blocked). A shell that
    starts with SIGINT ignored can never trap it (bash), and the pytest process may have it ignored or blocked
    by then (libraries of earlier tests), which made Ctrl-C look ignored by run.sh in the full suite."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _kill_leftovers(ports: Any) -> None:
    """If the test failed, stop whatever still listens on its ports (servers started by this test only)."""
    for port in ports:
        if _port_free(port):
            continue
        found = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        for pid in {int(p) for p in re.findall(r"pid=(\d+)", found)}:
            with suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
