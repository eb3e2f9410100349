"""Benchmark: from-scratch training time and peak memory of the real bot (config.yml, domain.yml, data/).

    .venv/bin/python benchmarks/train_time.py [--skip-parts] [--out results/bench/train_time.json]

Three trainings into a temporary folder, each with its own empty Rasa training cache
(``RASA_CACHE_DIRECTORY``), so nothing is restored from an earlier run:

- ``rasa train --force``: the whole model (NLU + dialogue), what ``make train`` does;
- ``rasa train nlu``: the NLU pipeline alone;
- ``rasa train core``: the dialogue policies alone.

Each is one process, timed from start to exit (so each includes Rasa's start-up: imports, reading and
validating the data), with its CPU time and peak resident memory from ``wait4``. Target: the whole model in
at most 10 minutes on 2 cores. The models/ folder is not touched.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from common import (
    LOGS,
    RASA_BIN,
    RESULTS,
    ROOT,
    base_env,
    machine,
    now_iso,
    run_measured,
    tail,
    warn_if_busy,
    write_json,
)

TARGET_S = 600.0


def trainings(tmp: Path) -> dict[str, list[str]]:
    rasa = str(RASA_BIN)
    return {
        "full": [rasa, "train", "--force", "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
                 "--out", str(tmp / "full"), "--fixed-model-name", "full"],
        "nlu": [rasa, "train", "nlu", "--config", "config.yml", "--domain", "domain.yml", "--nlu", "data",
                "--out", str(tmp / "nlu"), "--fixed-model-name", "nlu"],
        "core": [rasa, "train", "core", "--config", "config.yml", "--domain", "domain.yml", "--stories", "data",
                 "--out", str(tmp / "core"), "--fixed-model-name", "core"],
    }


def display(cmd: list[str], tmp: Path, part: str) -> str:
    """The command as a reader would type it (relative rasa path, <tmp> for the temporary folder)."""
    text = " ".join(cmd).replace(str(RASA_BIN), ".venv-rasa/bin/rasa").replace(str(tmp), "<tmp>")
    return f"RASA_CACHE_DIRECTORY=<tmp>/cache-{part} {text}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-parts", action="store_true", help="time only the whole training, not nlu/core")
    parser.add_argument("--out", type=Path, default=RESULTS / "train_time.json")
    args = parser.parse_args(argv)

    for needed in ("config.yml", "domain.yml", "data"):
        if not (ROOT / needed).exists():
            print(f"ERROR: {needed} is missing: nothing to train", file=sys.stderr)
            return 1
    busy = warn_if_busy()
    started = now_iso()
    tmp = Path(tempfile.mkdtemp(prefix="nova-bench-train-"))
    results: dict[str, dict] = {}
    try:
        runs = trainings(tmp)
        if args.skip_parts:
            runs = {"full": runs["full"]}
        for part, cmd in runs.items():
            env = base_env(RASA_CACHE_DIRECTORY=str(tmp / f"cache-{part}"))
            print(f"==> rasa train ({part}) from scratch ... ", end="", flush=True)
            m = run_measured(cmd, LOGS / f"train_{part}.log", env=env)
            if m.returncode != 0:
                print("FAILED")
                print(f"ERROR: `{' '.join(cmd)}` exited with {m.returncode}; {m.log}:\n{tail(m.log)}", file=sys.stderr)
                return 1
            model = next((tmp / part).glob("*.tar.gz"), None)
            print(f"{m.wall_s:.1f} s wall, {m.cpu_s:.1f} s CPU, peak RSS {m.peak_rss_mb:.0f} MB")
            results[part] = m.as_dict() | {
                "command": display(cmd, tmp, part),
                "model_mb": round(model.stat().st_size / 2**20, 2) if model else None,
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    full = results["full"]
    report = {
        "benchmark": "train_time",
        "started": started,
        "finished": now_iso(),
        "machine": machine(),
        "busy_at_start": busy,
        "target_s": TARGET_S,
        "met_target": full["wall_s"] <= TARGET_S,
        "trainings": results,
    }
    print(f"whole model: {full['wall_s']:.1f} s (target <= {TARGET_S:.0f} s: {'met' if report['met_target'] else 'MISSED'})"
          f", peak RSS {full['peak_rss_mb']:.0f} MB")
    if "nlu" in results and "core" in results:
        print(f"parts: nlu {results['nlu']['wall_s']:.1f} s, core {results['core']['wall_s']:.1f} s "
              "(each a separate process, start-up included)")
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
