"""Run a small Sanic app of the Rasa environment (Python 3.10) that mounts our real connector classes, for
tests that need no live stack (tests/channels/test_channels_off.py, test_telegram_unsigned.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def sanic_server(script: str, ready_path: str, **env: str) -> Iterator[str]:
    """Start ``script`` (Python source taking the port as ``sys.argv[1]``) with the messenger settings of the
    outer environment removed and ``env`` added; yield its base URL once ``ready_path`` answers; stop it."""
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} does not exist: run `make setup`")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "FACEBOOK_"))} | env
    proc = subprocess.Popen([str(RASA_PYTHON), "-c", script, str(port)], cwd=ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the Sanic server exited: {proc.stdout.read().decode() if proc.stdout else ''}")
            try:
                httpx.get(f"{url}{ready_path}", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail("the Sanic server did not start in 120 s")
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
