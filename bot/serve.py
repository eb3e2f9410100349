"""``python -m bot.serve run ...``: ``rasa run ...`` with the HTTP API token taken from ``RASA_TOKEN``.

``rasa run --auth-token TOKEN`` puts Rasa's admin token on the command line, which every local user can read
(``ps``, ``/proc/<pid>/cmdline``): with it they could append events to any conversation and run actions as a
linked customer. Here the token is read from the environment (``/proc/<pid>/environ`` is owner-only) and added
to Rasa's own argument list inside the process, so the command line never holds it. Everything else is
``rasa``'s command line as usual. Runs in Rasa's environment (``.venv-rasa``).

A served model uses one BLAS thread (:func:`one_blas_thread`): a parse multiplies matrices of a few word pieces,
too small for a second thread, and OpenBLAS's second thread, woken by every parse, then spun waiting for the next
one: 0.9 of a core per Rasa process at the same latency (one conversation, 1,500 turns: 1.43 -> 0.57 cores,
73 ms per turn both; docs/DEPLOY.md "Scale-out"). With several workers on one machine the spinning threads took
the cores the other workers needed. Training (``rasa train``) keeps every thread.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

#: Thread-count variables of the numeric libraries a served model loads (numpy's OpenBLAS, OpenMP in
#: scikit-learn and TensorFlow); read once, when the library is loaded.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread(environ: MutableMapping[str, str] | None = None) -> None:
    """Ask the numeric libraries for one thread each, unless the operator set a count: sets every name of
    :data:`THREAD_VARIABLES` missing from ``environ`` (default ``os.environ``) to ``"1"``. Must run before numpy
    is imported to take effect."""
    env = os.environ if environ is None else environ
    for name in THREAD_VARIABLES:
        env.setdefault(name, "1")


def main() -> int:
    """Run Rasa's CLI with ``--auth-token $RASA_TOKEN`` appended to a ``run`` command; exit status as Rasa's.

    Raises SystemExit(2) when ``run`` is asked for without RASA_TOKEN (the API would be open to anyone) or with
    ``--auth-token`` on the command line."""
    args = sys.argv[1:]
    if args[:1] == ["run"]:
        one_blas_thread()  # before Rasa imports numpy
    from rasa.__main__ import main as rasa_main

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
