"""bot/response_validation.py in the real Rasa environment: the prebuilt validator accepts and rejects
exactly what Rasa's own ``jsonschema.validate`` does, and loading bot.components installs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

SCRIPT = r"""
import jsonschema
from rasa.core.actions.action import RemoteAction
original = RemoteAction._validate_action_result
import bot.components  # noqa: F401  (installs the prebuilt validator, as model loading does)
patched = RemoteAction._validate_action_result
assert patched is not original and getattr(patched, "_nova_prebuilt", False)
schema = RemoteAction.action_response_format_spec()
cases = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "amount", "value": "5.00"}], "responses": [{"text": "hi"}]},
    {"events": "not a list"},
    {"responses": [1, 2]},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot"}]},
    [],
]
for case in cases:
    try:
        jsonschema.validate(case, schema)
        expected = True
    except jsonschema.ValidationError:
        expected = False
    try:
        got = patched(RemoteAction.__new__(RemoteAction), case)
    except jsonschema.ValidationError as e:
        got = False
        assert "Failed to validate Action server response" in e.message
    assert got == expected, (case, got, expected)
print("ok", len(cases))
"""


def test_prebuilt_validator_matches_rasa() -> None:
    result = subprocess.run([str(RASA_PY), "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok 7"
