"""The API's log (uvicorn with ``api/logging.json``, as scripts/run.sh starts it) holds no query string: a
staff search's e-mail address and phone number, and a token in a URL, never reach the log file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine

from api.log_config import LOG_CONFIG_FILE
from profiles.staff import issue_staff_token

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_api_log_has_method_path_and_status_but_no_query_values(sqlite_db: Engine, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "api.log"
    env = {**os.environ, "DATABASE_URL": sqlite_db.url.render_as_string(hide_password=False)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-config", LOG_CONFIG_FILE],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.3)
        staff = {"Authorization": f"Bearer {issue_staff_token('log-test', 'staff')}"}
        secret_token = issue_staff_token("in-a-url", "staff")
        searched = httpx.get(f"{base}/customers", params={"email": "someone.private@example.org",
                                                           "phone": "+351 912 345 678"}, headers=staff)
        assert searched.status_code == 200, searched.text
        assert httpx.get(f"{base}/customers", params={"token": secret_token}).status_code == 401
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert "GET /customers 200" in text and "GET /customers 401" in text, text
    for value in ("someone.private", "example.org", "912", "351", secret_token, "email=", "token=", "?"):
        assert value not in text, f"{value!r} in the API log:\n{text}"
    access = [line for line in text.splitlines() if "uvicorn.access" in line]
    assert access and not any("127.0.0.1" in line for line in access)  # nor the client's address
