"""``python -m bot.serve run ...``: ``rasa run ...`` with the HTTP API token taken from ``RASA_TOKEN``.

``rasa run --auth-token TOKEN`` puts Rasa's admin token on the command line, which every local user can read
(``ps``, ``/proc/<pid>/cmdline``): with it they could append events to any conversation and run actions as a
linked customer. Here the token is read from the environment (``/proc/<pid>/environ`` is owner-only) and added
to Rasa's own argument list inside the process, so the command line never holds it. Everything else is
``rasa``'s command line as usual. Runs in Rasa's environment (``.venv-rasa``).
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    """Run Rasa's CLI with ``--auth-token $RASA_TOKEN`` appended to a ``run`` command; exit status as Rasa's.

    Raises SystemExit(2) when ``run`` is asked for without RASA_TOKEN (the API would be open to anyone) or with
    ``--auth-token`` on the command line."""
    from rasa.__main__ import main as rasa_main

    args = sys.argv[1:]
    if args[:1] == ["run"]:
        if any(a in ("--auth-token", "-t") or a.startswith(("--auth-token=", "-t")) for a in args):
            print("bot.serve: give the token in RASA_TOKEN, not on the command line", file=sys.stderr)
            return 2
        token = os.environ.get("RASA_TOKEN", "")
        if not token:
            print("bot.serve: RASA_TOKEN is not set: Rasa's HTTP API would have no token", file=sys.stderr)
            return 2
        args = [*args, "--auth-token", token]
    sys.argv = ["rasa", *args]
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
