"""Benchmark: plan and queue a campaign of 100,000 targeted customers (target <= 60 s on 2 cores).

Measured: ``plan_campaign`` (audience query, stratified control/A-B assignment, one delivery-log row per
recipient in one transaction) plus ``enqueue_batches`` (one huey task per 500 recipients) -- what happens
between "schedule" and the first send. Not measured: inserting the synthetic customers (setup).

    .venv/bin/python benchmarks/campaign_plan.py                 # embedded: SQLite file + SqliteHuey
    .venv/bin/python benchmarks/campaign_plan.py --pg URL --redis redis://127.0.0.1:6379/0

Prints one JSON line and writes results/bench/campaign_plan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 when the target is met."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--pg", help="PostgreSQL server URL (a private schema is made and dropped)")
    parser.add_argument("--redis", help="Redis URL for the queue (default: SqliteHuey in a temp file)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="campaign-bench-"))
    schema = None
    if args.pg:
        schema = f"bench_campaign_{os.getpid()}"
        with create_engine(args.pg).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(args.pg).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    else:
        url = f"sqlite:///{tmp / 'crm.db'}"
    os.environ.update(DATABASE_URL=url, CAMPAIGN_SENDER="record", CAMPAIGN_QUEUE_FILE=str(tmp / "queue.db"),
                      CAMPAIGN_QUEUE_NAME=f"bench-{uuid.uuid4().hex[:8]}")
    if args.redis:
        os.environ["REDIS_URL"] = args.redis
    else:
        os.environ.pop("REDIS_URL", None)
    from api.campaign_queue import enqueue_batches, get_queue  # noqa: PLC0415 - after the environment is set
    from profiles.campaigns.plan import plan_campaign  # noqa: PLC0415
    from profiles.campaigns.spec import CampaignSpec  # noqa: PLC0415
    from profiles.campaigns.store import create_campaign, transition  # noqa: PLC0415
    from profiles.db import init_db  # noqa: PLC0415
    from tests.profiles.campaign_data import bulk_customers  # noqa: PLC0415

    try:
        init_db()
        t0 = time.perf_counter()
        bulk_customers(args.n)
        setup_s = time.perf_counter() - t0
        spec = CampaignSpec.model_validate({
            "name": "bench", "goal": {"conversion": "offer_accepted", "product": "term_deposit"},
            "audience": {"min_churn": 0.0},
            "variants": [{"name": "A", "split": 50, "message": {"kind": "reminder", "template": "statement_ready"}},
                         {"name": "B", "split": 50, "message": {"kind": "reminder", "template": "payment_due"}}]})
        cid = create_campaign(spec, actor="staff:bench").id
        transition(cid, "schedule", actor="staff:bench")
        t1 = time.perf_counter()
        plan = plan_campaign(cid)
        t2 = time.perf_counter()
        enqueue_batches(cid, plan.step, plan.batches)
        t3 = time.perf_counter()
        queued = len(get_queue())
        get_queue().storage.flush_all()
        result = {"benchmark": "campaign_plan", "customers": args.n, "treated": plan.treated, "control": plan.control,
                  "tasks_queued": queued, "backend": "postgresql" if args.pg else "sqlite",
                  "queue": "redis" if args.redis else "sqlite", "plan_s": round(t2 - t1, 2),
                  "queue_s": round(t3 - t2, 2), "total_s": round(t3 - t1, 2), "target_s": 60,
                  "setup_s": round(setup_s, 2), "cpus": os.cpu_count()}
    finally:
        if schema is not None:
            from profiles.db import reset_engine  # noqa: PLC0415

            reset_engine()
            with create_engine(args.pg).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    out = ROOT / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "campaign_plan.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0 if result["total_s"] <= 60 else 1


if __name__ == "__main__":
    raise SystemExit(main())
