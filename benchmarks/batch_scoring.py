"""Batch-scoring benchmark: N synthetic customers, then the batch command end to end; throughput and peak memory.

    .venv/bin/python benchmarks/batch_scoring.py [--n 1000000] [--chunk N] [--database-url URL] [--reuse] [--keep]

1. **Data**: ``python -m analytics.synthetic --n N`` (a child process) fills a fresh database with N
   customers built from the real distributions (see that module's docstring): by default the SQLite file
   ``var/bench/batch_scoring-N.db`` (replaced; ``--reuse`` keeps one that already holds exactly N customers
   and skips this step), or with ``--database-url postgresql+psycopg://...`` a private schema
   ``bench_<pid>`` on that server (dropped at the end unless ``--keep``; nothing else there is touched).
2. **Models**: when ``ANALYTICS_DIR`` holds no trained analyses (or with ``--train``),
   ``python -m analytics.train`` first (timed, not part of the scoring figures).
3. **Scoring**: ``python -m analytics.batch [--chunk N]`` in a child process over that database,
   end to end (start-up, model loading, reading, scoring, writing every ``customer_scores`` row).

Each step's wall time, CPU time and peak RSS come from ``os.wait4`` on that child (``ru_maxrss``: the peak
resident set of the child process itself, in KiB on Linux). Printed: profiles, wall time, throughput
(customers/s over the batch's wall time), peak RSS against the 2 GB target; the ``customer_scores`` row count
is checked against N afterwards. Results go to ``results/bench/batch_scoring.json`` (``--out``).
``make bench`` can run the small mode: ``--n 20000``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common import APP_PY, RESULTS, ROOT, base_env, machine, warn_if_busy, write_json
from sqlalchemy import create_engine, make_url, text

TARGET_PEAK_RSS_MB = 2048.0
BENCH_DIR = ROOT / "var" / "bench"


@dataclass
class Step:
    """One child process: command, exit code, wall and CPU seconds, peak RSS (MiB)."""

    name: str
    cmd: list[str]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("wall_s", "user_s", "sys_s", "peak_rss_mb"):
            d[key] = round(d[key], 2)
        d["cpu_s"] = round(self.user_s + self.sys_s, 2)
        return d


def run_step(name: str, cmd: list[str], env: dict[str, str]) -> Step:
    """Run ``cmd`` with its output on this terminal (progress bars show) and measure it with ``wait4``."""
    print(f"\n== {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_kib = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    step = Step(name, cmd, proc.returncode, wall, usage.ru_utime, usage.ru_stime, rss_kib / 1024)
    print(f"== {name}: exit {step.returncode}, {step.wall_s:.1f} s wall, peak RSS {step.peak_rss_mb:.0f} MiB",
          file=sys.stderr, flush=True)
    return step


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    except Exception:  # noqa: BLE001 - a missing table or file counts as empty
        return 0
    finally:
        engine.dispose()


def _private_schema(server_url: str) -> tuple[str, str]:
    """Create ``bench_<pid>`` on the PostgreSQL server; return (its name, a URL whose search_path is it)."""
    schema = f"bench_{os.getpid()}"
    engine = create_engine(server_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, url.render_as_string(hide_password=False)


def _drop_schema(server_url: str, schema: str) -> None:
    engine = create_engine(server_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _analytics_trained(env: dict[str, str]) -> bool:
    """Whether the analytics directory the children will use already holds trained models."""
    code = ("from profiles.settings import get_settings; d = get_settings().analytics_dir; "
            "print(int(d.is_dir() and any(d.iterdir())))")
    out = subprocess.run([str(APP_PY), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return out.stdout.strip() == "1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic customers (default 1,000,000)")
    parser.add_argument("--chunk", type=int, default=None, help="passed to the batch command as --chunk")
    parser.add_argument("--gen-chunk", type=int, default=50_000, help="customers per transaction when generating")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--reuse", action="store_true", help="SQLite: keep a file that already holds N customers")
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the bench schema afterwards")
    parser.add_argument("--train", action="store_true", help="train the analyses first even if trained")
    parser.add_argument("--out", type=Path, default=RESULTS / "batch_scoring.json")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")

    busy = warn_if_busy()
    schema: str | None = None
    if args.database_url:
        if not args.database_url.startswith("postgresql"):
            parser.error("--database-url must be a PostgreSQL URL (the default is a SQLite file)")
        schema, url = _private_schema(args.database_url)
    else:
        path = BENCH_DIR / f"batch_scoring-{args.n}.db"
        url = f"sqlite:///{path}"
        if not (args.reuse and _count(url, "customers") == args.n):
            path.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = base_env(DATABASE_URL=url)
    steps: list[Step] = []
    result: dict[str, Any] = {"n": args.n, "backend": "postgresql" if schema else "sqlite", "machine": machine(),
                              "busy_at_start": busy}
    try:
        if _count(url, "customers") != args.n:
            steps.append(run_step("generate", [str(APP_PY), "-m", "analytics.synthetic", "--n", str(args.n),
                                               "--chunk", str(args.gen_chunk)], env))
            if steps[-1].returncode:
                return steps[-1].returncode
        if args.train or not _analytics_trained(env):
            steps.append(run_step("train", [str(APP_PY), "-m", "analytics.train"], env))
            if steps[-1].returncode:
                return steps[-1].returncode
        cmd = [str(APP_PY), "-m", "analytics.batch"] + (["--chunk", str(args.chunk)] if args.chunk else [])
        batch = run_step("batch", cmd, env)
        steps.append(batch)
        if batch.returncode:
            print(f"batch command failed (exit {batch.returncode}): no figures", file=sys.stderr)
            return batch.returncode
        scored = _count(url, "customer_scores")
        result.update({
            "steps": [s.as_dict() for s in steps],
            "profiles": args.n,
            "scored_rows": scored,
            "batch_wall_s": round(batch.wall_s, 1),
            "throughput_customers_per_s": round(args.n / batch.wall_s, 1),
            "batch_peak_rss_mb": round(batch.peak_rss_mb, 1),
            "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
            "peak_rss_met": batch.peak_rss_mb <= TARGET_PEAK_RSS_MB,
        })
        write_json(args.out, result)
        print(json.dumps({k: result[k] for k in ("profiles", "scored_rows", "batch_wall_s",
                                                  "throughput_customers_per_s", "batch_peak_rss_mb")}))
        print(f"\nprofiles {args.n:,} | batch wall {batch.wall_s:,.1f} s | "
              f"throughput {args.n / batch.wall_s:,.0f} customers/s | peak RSS {batch.peak_rss_mb:,.0f} MiB "
              f"(target <= {TARGET_PEAK_RSS_MB:,.0f}: {'met' if batch.peak_rss_mb <= TARGET_PEAK_RSS_MB else 'MISSED'})"
              f" | customer_scores rows {scored:,}")
        return 0 if scored == args.n else 1
    finally:
        if schema and args.database_url and not args.keep:
            _drop_schema(args.database_url, schema)


if __name__ == "__main__":
    raise SystemExit(main())
