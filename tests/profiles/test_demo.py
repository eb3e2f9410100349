"""run.sh's chat instructions (``python -m profiles.demo``): demo and staff tokens in development only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from profiles.identity import verify_token
from profiles.seed import main as seed_main
from profiles.seed import seed

ROOT = Path(__file__).resolve().parents[2]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _banner(sqlite_db: Engine, **env: str) -> str:
    full = {**os.environ, "DATABASE_URL": sqlite_db.url.render_as_string(hide_password=False), **env}
    done = subprocess.run([sys.executable, "-m", "profiles.demo", "--api-port", "8123", "--rasa-port", "5123"],
                          cwd=ROOT, env=full, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_development_prints_the_demo_customers_and_a_staff_token(sqlite_db: Engine) -> None:
    seed(12, progress=False)
    out = _banner(sqlite_db, ENVIRONMENT="development")
    customer_part, staff_part = out.split(" Staff token (role staff")
    customers = [verify_token(t) for t in JWT.findall(customer_part)]
    assert customers == [1, 1, 2, 3, 4, 5]  # the curl example's, then each demo customer (of 12 seeded)
    assert len(JWT.findall(staff_part)) == 1 and "demo_customer=1" in out


def test_the_printed_staff_curl_works_as_copied(sqlite_db: Engine) -> None:
    """The banner's export line, pasted into a shell, sets the $STAFF_TOKEN its curl lines use (a new user
    copied the curl alone and sent an empty token)."""
    from profiles.staff import verify_staff_token

    seed(3, progress=False)
    out = _banner(sqlite_db, ENVIRONMENT="development")
    export = next(line.strip() for line in out.splitlines() if line.strip().startswith("export STAFF_TOKEN="))
    assert any("curl" in line and '"Authorization: Bearer $STAFF_TOKEN"' in line for line in out.splitlines())
    shown = subprocess.run(["bash", "-c", f'{export}\nprintf %s "$STAFF_TOKEN"'], capture_output=True, text=True,
                           timeout=30, check=True).stdout
    assert verify_staff_token(shown).role == "staff"


def test_no_credential_printed_outside_development(sqlite_db: Engine) -> None:
    seed(12, progress=False)
    out = _banner(sqlite_db, ENVIRONMENT="production", JWT_SECRET="s" * 40, RASA_TOKEN="t" * 40)
    assert JWT.findall(out) == []
    assert "demo_customer" not in out
    assert "python -m profiles.staff" in out  # says how to mint a staff token instead


def test_seed_refuses_demo_tokens_outside_development(sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    seed(6, progress=False)
    from profiles.settings import get_settings

    for k, v in {"ENVIRONMENT": "staging", "JWT_SECRET": "s" * 40, "RASA_TOKEN": "t" * 40}.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    assert seed_main(["--demo-tokens"]) == 1
    captured = capsys.readouterr()
    assert JWT.findall(captured.out + captured.err) == [] and "only in development" in captured.err
    get_settings.cache_clear()
