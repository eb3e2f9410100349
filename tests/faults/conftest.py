"""A private production-mode stack for fault tests: its own Redis (tracker and lock store), action server and
Rasa server, so a test can kill or pause one part without disturbing other tests or engineers.

``fault_stack`` (module scope) starts two ``redis-server`` on free ports, one for the tracker store and one for
the lock store, so each can fail alone (append-only file with fsync on every write, in a temporary folder: a
killed Redis comes back with its data, as Redis in production must, see docs/RELIABILITY.md), a freshly seeded CRM database (SQLite, or a private schema on DATABASE_URL's PostgreSQL),
the action server and Rasa with bot/endpoints.redis.yml (RabbitMQ: RABBITMQ_URL or the local default, a
private queue deleted afterwards). No feed consumer: the tests read the CRM directly.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    DEFAULT_RABBITMQ_URL,
    MODELS,
    RASA_BIN,
    ROOT,
    TEMPLATE_ACTION_URL,
    _delete_queue,
    _free_port,
    _fresh_database,
    _redis_env,
    _start,
    _stop,
    _tail,
    _wait_healthy,
)

SEED_LIMIT = 60


@dataclass
class FaultStack:
    """The private stack's processes and how to break and mend each."""

    rasa_url: str
    action_port: int
    redis_ports: dict[str, int]
    database_url: str
    logs: dict[str, Path]
    env: dict[str, str]
    tmp: Path
    messenger_cloud: Any = None  # tests/fakes/messenger_cloud.MessengerCloud: Telegram/Messenger replies land here
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    def chat(self, sender: str, text: str, token: str | None = None) -> list[dict[str, Any]]:
        """One REST message; the replies (the webhook must answer 200)."""
        payload: dict[str, Any] = {"sender": sender, "message": text}
        if token is not None:
            payload["metadata"] = {"token": token}
        response = self.http.post(f"{self.rasa_url}/webhooks/rest/webhook", json=payload)
        assert response.status_code == 200, response.text
        replies: list[dict[str, Any]] = response.json()
        return replies

    # --- Redis ---------------------------------------------------------------------------------------------
    def start_redis(self, name: str = "tracker") -> None:
        """Start (or restart, with its data) the private Redis ``name``: ``tracker`` or ``locks``."""
        folder = self.tmp / f"redis-{name}"
        folder.mkdir(exist_ok=True)
        self.procs[f"redis-{name}"] = _start(
            ["redis-server", "--port", str(self.redis_ports[name]), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(folder)],
            self.logs[f"redis-{name}"], self.env,
        )
        import redis

        client = redis.Redis(port=self.redis_ports[name], socket_timeout=1)
        for _ in range(100):
            with suppress(redis.RedisError):
                if client.ping():
                    client.close()
                    return
            time.sleep(0.1)
        pytest.fail(f"private redis-server {name} did not start:\n{_tail(self.logs[f'redis-{name}'], 30)}")

    def kill_redis(self, name: str = "tracker") -> None:
        proc = self.procs[f"redis-{name}"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    # --- action server ---------------------------------------------------------------------------------------
    def start_actions(self) -> None:
        self.procs["actions"] = _start(
            [sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(self.action_port)],
            self.logs["actions"], {**self.env, "SANIC_HOST": "127.0.0.1"},
        )
        _wait_healthy("action server", f"http://127.0.0.1:{self.action_port}/health", self.procs["actions"],
                      self.logs["actions"], lambda r: r.json().get("status") == "ok")

    def kill_actions(self) -> None:
        proc = self.procs["actions"]
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def pause_actions(self, paused: bool) -> None:
        """SIGSTOP (port open, never answering) or SIGCONT the action server's whole process group."""
        os.killpg(self.procs["actions"].pid, signal.SIGSTOP if paused else signal.SIGCONT)


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    if not any(MODELS.glob("*.tar.gz")):
        pytest.fail(f"no trained Rasa model in {MODELS}: run `make train` first")
    tmp = tmp_path_factory.mktemp("faults")
    database = _fresh_database(tmp)
    rabbitmq_url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
    queue = f"faults_events_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    redis_ports = {"tracker": _free_port(), "locks": _free_port()}
    action_port, rasa_port = _free_port(), _free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database.url, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1", PYTHONUNBUFFERED="1", ACTION_SERVER_TOKEN=secrets.token_hex(16),
        RABBITMQ_URL=rabbitmq_url, EVENT_QUEUE=queue,
        EVENT_OUTBOX=str(tmp / "outbox.db"),  # bot/durable_broker.py's outbox: this stack's own, not var/
    )
    env.update(_redis_env(f"redis://127.0.0.1:{redis_ports['tracker']}/0", rabbitmq_url, queue))
    from tests.fakes.messenger_cloud import MessengerCloud  # Telegram and Messenger on, against a local fake

    messenger_cloud = MessengerCloud().start()
    env.update(messenger_cloud.rasa_env())
    endpoints = tmp / "endpoints.yml"
    template = (ROOT / "bot" / "endpoints.redis.yml").read_text().replace(
        TEMPLATE_ACTION_URL, f"http://127.0.0.1:{action_port}/webhook")
    tracker_part, lock_part = template.split("\nlock_store:", 1)
    assert "port: ${REDIS_PORT}" in lock_part, "bot/endpoints.redis.yml's lock_store no longer has port: ${REDIS_PORT}"
    endpoints.write_text(tracker_part + "\nlock_store:" + lock_part.replace(
        "port: ${REDIS_PORT}", f"port: {redis_ports['locks']}", 1))
    logs = {name: tmp / f"{name}.log" for name in ("redis-tracker", "redis-locks", "actions", "rasa")}
    stack = FaultStack(rasa_url=f"http://127.0.0.1:{rasa_port}", action_port=action_port, redis_ports=redis_ports,
                       database_url=database.url, logs=logs, env=env, tmp=tmp, messenger_cloud=messenger_cloud)
    rasa_token = secrets.token_hex(16)
    try:
        seed = subprocess.run([sys.executable, "-m", "profiles.seed", "--limit", str(SEED_LIMIT), "--quiet"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if seed.returncode != 0:
            pytest.fail(f"seeding failed:\n{seed.stdout}\n{seed.stderr}")
        stack.start_redis("tracker")
        stack.start_redis("locks")
        stack.start_actions()
        stack.procs["rasa"] = _start(
            [str(RASA_BIN.with_name("python")), "-m", "bot.serve", "run", "--enable-api", "-m", str(MODELS),
             "--endpoints", str(endpoints), "--credentials", str(ROOT / "bot" / "credentials.yml"),
             "-i", "127.0.0.1", "-p", str(rasa_port)], logs["rasa"], {**env, "RASA_TOKEN": rasa_token})
        _wait_healthy("Rasa server", f"{stack.rasa_url}/status?token={rasa_token}", stack.procs["rasa"], logs["rasa"],
                      lambda r: bool(r.json().get("model_file")))
        yield stack
    finally:
        for proc in stack.procs.values():
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
            _stop(proc)
        stack.http.close()
        messenger_cloud.stop()
        _delete_queue(rabbitmq_url, queue)
        if database.drop is not None:
            database.drop()


@pytest.fixture
def tracker_redis_down(fault_stack: FaultStack) -> Iterator[None]:
    """The tracker store's Redis (also the web chat's session store) is killed for the test, then restarted."""
    fault_stack.kill_redis("tracker")
    try:
        yield
    finally:
        fault_stack.start_redis("tracker")


@pytest.fixture
def lock_redis_down(fault_stack: FaultStack) -> Iterator[None]:
    """The lock store's Redis is killed for the test, then restarted."""
    fault_stack.kill_redis("locks")
    try:
        yield
    finally:
        fault_stack.start_redis("locks")


@pytest.fixture
def stack_database(fault_stack: FaultStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this process's settings (and ``profiles``' engine) at the fault stack's database."""
    from profiles.db import reset_engine
    from profiles.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", fault_stack.database_url)
    get_settings.cache_clear()
    reset_engine()
    yield
    reset_engine()
    get_settings.cache_clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the private servers' log tails to a failed test's report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    funcargs = item.funcargs if hasattr(item, "funcargs") else {}
    stack = funcargs.get("fault_stack") or funcargs.get("scaled_stack")  # test_scale_out.py's stack too
    if report.failed and stack is not None:
        for name, path in stack.logs.items():
            report.sections.append((f"{name} log (last 40 lines)", _tail(path, 40)))
