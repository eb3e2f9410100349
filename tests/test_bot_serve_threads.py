"""bot/serve.py in the real Rasa environment: a served model gets one BLAS thread (OpenBLAS's second thread spun
on a core after every parse), the operator's own setting wins, and training keeps every thread."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

# Runs `python -m bot.serve <args>` in-process and, at exit, prints numpy's BLAS thread counts.
SCRIPT = r"""
import atexit, json, sys
def report():
    from threadpoolctl import threadpool_info
    print("BLAS=" + json.dumps([p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]))
atexit.register(report)
sys.argv = ["bot.serve", *sys.argv[1:]]
from bot import serve
sys.exit(serve.main())
"""


def _blas_threads(*args: str, **env: str) -> list[int]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    done = subprocess.run(
        [str(RASA_PY), "-c", SCRIPT, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean, "RASA_TOKEN": "test-token", "PYTHONPATH": str(ROOT), **env},
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BLAS=")), None)
    assert line is not None, done.stdout[-2000:] + done.stderr[-2000:]
    counts = json.loads(line[len("BLAS=") :])
    assert counts, "numpy's BLAS was not loaded"
    return counts


def test_run_serves_with_one_blas_thread() -> None:
    assert set(_blas_threads("run", "--help")) == {1}


def test_the_operators_thread_count_wins() -> None:
    assert set(_blas_threads("run", "--help", OPENBLAS_NUM_THREADS="2")) == {2}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS uses one thread per core: one core, one thread")
def test_other_commands_keep_every_thread() -> None:
    assert max(_blas_threads("train", "--help")) > 1


def test_one_blas_thread_only_fills_in() -> None:
    from bot.serve import THREAD_VARIABLES, one_blas_thread

    env = {"OMP_NUM_THREADS": "4"}
    one_blas_thread(env)
    assert env == {**dict.fromkeys(THREAD_VARIABLES, "1"), "OMP_NUM_THREADS": "4"}
