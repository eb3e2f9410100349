"""A real browser against the real API: Debian's Chromium driven by Playwright, over a seeded and scored database.

``staff_site`` (module scope) makes a SQLite CRM file in a temporary folder, imports 40 customers
(``python -m profiles.seed``), scores them with the batch command (``python -m analytics.batch``;
when no trained analyses exist it first runs ``python -m analytics.train`` into a temporary
``ANALYTICS_DIR``), starts ``uvicorn api.main:app`` on a free port and waits for ``/health``. While the module
runs this process's settings point at the same file, so a test can write through ``profiles`` (e.g. a staff
note) and see it in the page.

``browser`` launches ``/usr/bin/chromium`` (``CHROMIUM`` overrides) with ``--headless --no-sandbox
--disable-background-networking``; Playwright never downloads a browser. Without Chromium or the ``playwright``
package the tests are skipped, or fail when ``CI`` is set. Screenshots are kept in ``tests/artifacts/browser/``.

``chat_site`` (session scope) is the customer web chat: the e2e ``live_stack`` (real Rasa, action server and
feed consumer over a seeded database; imported from tests/e2e/conftest.py, one stack per session) plus
``uvicorn api.main:app`` on ``live_stack.web_port`` (the origin Rasa's socket.io channel accepts) with
``RASA_URL``/``RASA_TOKEN`` pointing at that Rasa and ``ENVIRONMENT=development`` (the demo log-in). ``chat_database`` points
this process's settings at the stack's database for one test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from profiles.db import reset_engine
from profiles.settings import get_settings
from tests.e2e.conftest import LiveStack, live_stack  # noqa: F401  (the fixture, shared with tests/e2e)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking"]
SEED_LIMIT = 40
STARTUP_TIMEOUT_S = 60.0


@dataclass
class StaffSite:
    """The running API: ``base_url``, its database URL and its log file."""

    base_url: str
    database_url: str
    log: Path


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
                                stdin=subprocess.DEVNULL, timeout=900)
    if result.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        pytest.fail(f"{' '.join(cmd)} failed ({result.returncode}):\n{tail}")


def _trained(env: dict[str, str]) -> bool:
    code = ("from analytics import store\n"
            "import sys\n"
            "try:\n"
            "    [store.current_version(a) for a in ('churn', 'credit', 'segments')]\n"
            "except Exception:\n"
            "    sys.exit(1)\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def staff_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffSite]:
    tmp = tmp_path_factory.mktemp("staff-site")
    url = f"sqlite:///{tmp / 'crm.db'}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1",
           # campaigns (tests/browser/test_campaign_pages.py): a private queue file, delivery rows only
           "CAMPAIGN_QUEUE_FILE": str(tmp / "campaign_queue.db"), "CAMPAIGN_SENDER": "record",
           # no quiet hours: the dry run's statuses must not depend on the hour CI runs at (21-8 Lisbon held
           # every message as quiet_hours in a CI run at night)
           "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0"}
    env.pop("REDIS_URL", None)
    log = tmp / "site.log"
    _run([sys.executable, "-m", "profiles.seed", "--limit", str(SEED_LIMIT), "--quiet"], env, log)
    if not _trained(env):
        env["ANALYTICS_DIR"] = str(tmp / "analytics")
        _run([sys.executable, "-m", "analytics.train"], env, log)
    _run([sys.executable, "-m", "analytics.batch"], env, log)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"API exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"API not healthy after {STARTUP_TIMEOUT_S:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DATABASE_URL", url)
            get_settings.cache_clear()
            reset_engine()
            yield StaffSite(base_url=base, database_url=url, log=log)
        get_settings.cache_clear()
        reset_engine()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class ChatSite:
    """The API serving the web chat page (``base_url``) next to the live stack it talks to."""

    base_url: str
    stack: LiveStack
    log: Path


def _wait_for_api(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"API exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"API not healthy after {STARTUP_TIMEOUT_S:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def chat_site(live_stack: LiveStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatSite]:  # noqa: F811
    """The API on ``live_stack.web_port`` over the stack's database, its pages pointing at the stack's Rasa."""
    assert live_stack.web_port is not None
    log = tmp_path_factory.mktemp("chat-site") / "api.log"
    env = {**os.environ, "DATABASE_URL": live_stack.database_url, "RASA_URL": live_stack.rasa_url,
           "RASA_TOKEN": live_stack.rasa_token,  # the staff pages' calls to Rasa's HTTP API (live hand-off)
           "ENVIRONMENT": "development", "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)
    base = f"http://127.0.0.1:{live_stack.web_port}"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                                 "--port", str(live_stack.web_port)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_for_api(proc, base, log)
        yield ChatSite(base_url=base, stack=live_stack, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def chat_database(chat_site: ChatSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatSite]:
    """``chat_site``, with this process's settings (and ``profiles``' engine) on its database for one test."""
    monkeypatch.setenv("DATABASE_URL", chat_site.stack.database_url)
    get_settings.cache_clear()
    reset_engine()
    yield chat_site
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed in this environment")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; a screenshot of the last page is kept on failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    try:
        yield tab
    finally:
        outcome = getattr(request.node, "rep_call", None)
        if outcome is not None and outcome.failed:
            tab.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
        context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
