"""The two runtimes are what the design says: our code on current libraries, Rasa 3.6.21 on Python 3.10."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def _major(dist: str) -> int:
    return int(version(dist).split(".")[0])


def test_our_python_is_311_or_newer() -> None:
    assert sys.version_info >= (3, 11)


def test_sqlalchemy_2_and_pydantic_2() -> None:
    import pydantic
    import sqlalchemy

    assert _major("sqlalchemy") >= 2, sqlalchemy.__version__
    assert _major("pydantic") >= 2, pydantic.VERSION


def test_rasa_sdk_is_importable_with_the_action_server_pieces() -> None:
    from rasa_sdk import Action, Tracker
    from rasa_sdk.executor import ActionExecutor
    from rasa_sdk.forms import FormValidationAction

    assert Action and Tracker and ActionExecutor and FormValidationAction
    assert version("rasa-sdk").startswith("3.")


def test_rasa_environment_is_python_310_with_rasa_3_6_21() -> None:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} does not exist: run `make setup`")
    probe = (
        "import json, sys; from importlib.metadata import version; "
        "print(json.dumps({'python': list(sys.version_info[:2]), 'rasa': version('rasa')}))"
    )
    out = subprocess.run([str(RASA_PYTHON), "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"python": [3, 10], "rasa": "3.6.21"}


def test_rasa_environment_does_not_see_our_packages() -> None:
    """bot/ is the only thing the Rasa process may load of ours: our app packages are not installed there."""
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} does not exist: run `make setup`")
    probe = "import importlib.util as u; print([m for m in ('profiles', 'recommender', 'actions', 'api') if u.find_spec(m)])"
    out = subprocess.run(
        [str(RASA_PYTHON), "-I", "-c", probe], capture_output=True, text=True, timeout=60, check=True, cwd="/"
    )
    assert out.stdout.strip() == "[]"
