"""The bot's copies of constants shared with our packages (bot/ runs in the Rasa process and may not import
them: shared/DESIGN.md) must equal the originals. bot/ needs Rasa's environment, so its source is read as text."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from api.push import WEB_PAGE_CLOSED
from profiles.linking import CODE_ALPHABET

BOT = Path(__file__).resolve().parents[1] / "bot"


def _constant(path: Path, name: str) -> str:
    """The string value of the module-level ``name = "..."`` assignment in ``path``."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                assert isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                return node.value.value
    raise AssertionError(f"{name} not found in {path}")


def test_the_bots_link_code_symbols_are_the_code_alphabet() -> None:
    code = _constant(BOT / "channels.py", "_CODE")
    symbol = re.compile(code.split("{", 1)[0])  # the first half's character class: one symbol
    accepted = {c for c in string.printable if symbol.fullmatch(c)}
    assert accepted == set(CODE_ALPHABET) | set(CODE_ALPHABET.lower())
    assert re.compile(code).fullmatch(CODE_ALPHABET[:4] + "-" + CODE_ALPHABET[-4:])


def test_the_bots_no_open_page_message_is_the_push_apis() -> None:
    assert _constant(BOT / "socketio_channel.py", "NO_OPEN_PAGE") == WEB_PAGE_CLOSED


def test_the_channels_identity_claim_is_the_one_profiles_reads() -> None:
    """bot/identity_claim.py (Rasa's process) and profiles.identity make the same claim for the same token and
    conversation: its constants equal profiles' and its seal is profiles.sealing's (the module is run in the Rasa
    environment, where it lives)."""
    import subprocess

    from profiles.identity import ALGORITHM, ISSUER, claim_subject, identity_claim, issue_token
    from profiles.sealing import MAC_CHARS
    from profiles.settings import DEV_SECRET, get_settings

    claim_module = BOT / "identity_claim.py"
    assert (_constant(claim_module, "ISSUER"), _constant(claim_module, "ALGORITHM")) == (ISSUER, ALGORITHM)
    assert _constant(claim_module, "DEV_SECRET") == DEV_SECRET
    token = issue_token(3)
    script = ("import sys, json; sys.path.insert(0, '.'); from bot.identity_claim import exchange; "
              "print(json.dumps(exchange({'token': sys.argv[1], 'identity': 'client-made', 'x': 1}, 'conv-1'))); "
              # socket.io: a token inside a message is dropped, never exchanged (the socket's own identity counts)
              "print(json.dumps(exchange({'token': sys.argv[1]}, 'conv-1', None, accept_token=False)))")
    rasa_python = BOT.parent / ".venv-rasa" / "bin" / "python"
    done = subprocess.run([str(rasa_python), "-c", script, token], cwd=BOT.parent, capture_output=True, text=True,
                          timeout=120, env={"JWT_SECRET": get_settings().jwt_secret, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    import json

    first, socket_message = done.stdout.splitlines()
    assert json.loads(socket_message) == {}
    passed = json.loads(first)
    assert passed == {"x": 1, "identity": identity_claim(token, "conv-1")}
    assert len(passed["identity"].rpartition(".")[2]) == MAC_CHARS
    assert claim_subject(passed, "conv-1") is not None and claim_subject(passed, "conv-2") is None
