"""The action server's Sanic workers die with the process that started them (actions/server.py
``die_with_parent``). Sanic serves from worker processes its manager spawns; when the manager alone was killed
(SIGKILL, the OOM killer) they lived on, still listening on the port and answering with the old code beside the
server supervisord started again, and `make stop` (which stops supervisord's process) left them running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for task in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            if int(task.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(task.parent.name))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_exit_when_the_action_server_process_is_killed(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "SANIC_HOST": "127.0.0.1", "ENVIRONMENT": "development",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}"}
    log = (tmp_path / "actions.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            with suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "actions.log").read_text()
            time.sleep(0.5)
        assert _children(proc.pid), "Sanic serves from worker processes"

        os.kill(proc.pid, signal.SIGKILL)  # the manager only, as the OOM killer would
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            except httpx.HTTPError:
                break  # nothing listens any more
            time.sleep(0.2)
        else:
            pytest.fail("a worker outlived the action server process and still answers on its port")
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
