"""``python -m profiles.staff ROLE [USERNAME]`` (the README's way to get a staff token): runs without runpy's
RuntimeWarning and prints a token ``verify_staff_token`` accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from profiles.staff import verify_staff_token

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("role", ["staff", "marketing", "admin"])
def test_the_staff_token_command_prints_a_valid_token_without_warnings(role: str) -> None:
    done = subprocess.run([sys.executable, "-W", "error", "-m", "profiles.staff", role, "ana"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    identity = verify_staff_token(done.stdout.strip())
    assert (identity.username, identity.role) == (f"ana-{role}", role)


def test_the_staff_token_command_refuses_an_unknown_role() -> None:
    done = subprocess.run([sys.executable, "-m", "profiles.staff", "root"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and "invalid choice" in done.stderr and done.stdout == ""
