"""Benchmark: feed lag, from a chat message sent to its Interaction row visible in the CRM.

    .venv/bin/python benchmarks/feed_lag.py [--mode embedded|production|both] [--messages 50]
                                            [--out results/bench/feed_lag.json]

Per mode, on loopback and free ports, the real stack the e2e tests use (tests/e2e/conftest.py's helpers):
a freshly seeded CRM (``--seed-limit`` customers), the feed consumer (``python -m profiles.feed``), our
action server and the Rasa server (models/).

- embedded: CRM in a SQLite file, in-memory tracker store, Rasa's SQL event broker (a SQLite file polled by
  the consumer every ``FEED_POLL_SECONDS``, default 0.5 s);
- production: CRM in a private schema on PostgreSQL (``TEST_DATABASE_URL``), Redis tracker and lock store
  (``TEST_REDIS_URL``), RabbitMQ event broker (``RABBITMQ_URL``) on a private queue.

``--mode no-broker`` runs embedded mode with the ``event_broker`` section removed from the endpoints (no feed):
only the bot's reply time, to compare with embedded mode's (what Rasa's synchronous SQL broker costs a turn).

Then ``--messages`` messages, one at a time, each from a verified customer (a signed token in the metadata)
in a conversation of its own, "hello": the time from just before the HTTP request until the message's
inbound chat_message Interaction is visible to another database connection (polled every 5 ms), and the time
from the bot's reply to then. The bot answers without waiting on the feed (a separate process), so the reply
time is the same as without the feed; the lag after the reply is the feed's own delay.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from common import RASA_BIN, RESULTS, ROOT, base_env, machine, now_iso, percentile, tail, warn_if_busy, write_json
from sqlalchemy import create_engine, func, select

from tests.e2e.conftest import (
    TEMPLATE_ACTION_URL,
    TEMPLATE_EVENTS_DB,
    _free_port,
    _fresh_database,
    _redis_env,
    _start,
    _stop,
    _wait_for_log,
    _wait_healthy,
)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/%2F"
POLL_S = 0.005
DEADLINE_S = 30.0


def _run_mode(mode: str, messages: int, seed_limit: int) -> dict[str, Any]:
    from profiles.db import reset_engine
    from profiles.identity import issue_token
    from profiles.models import Interaction
    from profiles.settings import get_settings

    tmp = Path(tempfile.mkdtemp(prefix=f"feed-lag-{mode}-"))
    os.environ.pop("DATABASE_URL", None)
    if mode == "production":
        os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    database = _fresh_database(tmp)
    env = base_env(DATABASE_URL=database.url, ACTION_SERVER_TOKEN=secrets.token_hex(16))  # actions/server.py wants the secret
    env.pop("RABBITMQ_URL", None)
    template = ROOT / "bot" / "endpoints.yml"
    action_port, rasa_port = _free_port(), _free_port()
    queue = None
    rabbitmq_url = None
    if mode == "production":
        redis_url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
        rabbitmq_url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ
        queue = f"feed_lag_{uuid.uuid4().hex[:8]}"
        env.update(REDIS_URL=redis_url, RABBITMQ_URL=rabbitmq_url, EVENT_QUEUE=queue)
        env.update(_redis_env(redis_url, rabbitmq_url, queue))
        template = ROOT / "bot" / "endpoints.redis.yml"
    else:
        env["EVENTS_DB_URL"] = f"sqlite:///{tmp / 'events.db'}"
    text = template.read_text().replace(TEMPLATE_ACTION_URL, f"http://127.0.0.1:{action_port}/webhook")
    text = text.replace(TEMPLATE_EVENTS_DB, f"db: {tmp / 'events.db'}")
    if mode == "no-broker":
        text = text[: text.index("event_broker:")]
        assert "event_broker" not in text.split("#")[0]
    endpoints = tmp / "endpoints.yml"
    endpoints.write_text(text)
    token = secrets.token_hex(16)
    logs = {name: tmp / f"{name}.log" for name in ("feed", "actions", "rasa")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        seed = subprocess.run([sys.executable, "-m", "profiles.seed", "--limit", str(seed_limit), "--quiet"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if seed.returncode:
            raise RuntimeError(f"seed failed: {seed.stderr[-2000:]}")
        if mode != "no-broker":
            procs.append(_start([sys.executable, "-m", "profiles.feed"], logs["feed"], env))
        procs.append(_start([sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(action_port)],
                            logs["actions"], {**env, "SANIC_HOST": "127.0.0.1"}))
        procs.append(_start([str(RASA_BIN), "run", "--enable-api", "--auth-token", token, "-m", str(ROOT / "models"),
                             "--endpoints", str(endpoints), "--credentials", str(ROOT / "bot" / "credentials.yml"),
                             "-i", "127.0.0.1", "-p", str(rasa_port)], logs["rasa"], env))
        if mode != "no-broker":
            _wait_for_log("feed consumer", procs[0], logs["feed"], "feed: started")
        _wait_healthy("action server", f"http://127.0.0.1:{action_port}/health", procs[-2], logs["actions"],
                      lambda r: r.json().get("status") == "ok")
        _wait_healthy("Rasa server", f"http://127.0.0.1:{rasa_port}/status?token={token}", procs[-1], logs["rasa"],
                      lambda r: bool(r.json().get("model_file")))

        os.environ["DATABASE_URL"] = database.url  # tokens are checked against this database's customers
        get_settings.cache_clear()
        reset_engine()
        engine = create_engine(database.url)
        from_send: list[float] = []
        from_reply: list[float] = []
        reply_ms: list[float] = []
        with httpx.Client(timeout=60) as client:
            # Warm-up: first requests load models lazily.
            client.post(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", json={"sender": "warm", "message": "hi"})
            for i in range(messages):
                cid = 1 + i % min(seed_limit, 20)
                sender = f"lag-{mode}-{i}-{uuid.uuid4().hex[:6]}"
                body = {"sender": sender, "message": "hello", "metadata": {"token": issue_token(cid)}}
                t0 = time.perf_counter()
                response = client.post(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", json=body)
                t_reply = time.perf_counter()
                response.raise_for_status()
                reply_ms.append((t_reply - t0) * 1000)
                if mode == "no-broker":
                    time.sleep(0.05)
                    continue
                query = select(func.count()).select_from(Interaction).where(
                    Interaction.sender_id == sender, Interaction.direction == "inbound")
                while True:
                    with engine.connect() as conn:
                        if conn.execute(query).scalar_one():
                            break
                    if time.perf_counter() - t0 > DEADLINE_S:
                        raise RuntimeError(f"message {i} not in the timeline after {DEADLINE_S} s; feed log:\n"
                                           f"{tail(logs['feed'])}")
                    time.sleep(POLL_S)
                t_seen = time.perf_counter()
                from_send.append((t_seen - t0) * 1000)
                from_reply.append((t_seen - t_reply) * 1000)
                time.sleep(0.05)
        engine.dispose()
    finally:
        for proc in reversed(procs):
            _stop(proc)
        if queue and rabbitmq_url:
            from tests.e2e.conftest import _delete_queue

            _delete_queue(rabbitmq_url, queue)
        reset_engine()
        if database.drop is not None:
            database.drop()

    def stats(values: list[float]) -> dict[str, float] | None:
        if not values:
            return None
        return {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
                "max_ms": round(max(values), 1)}

    return {
        "mode": mode,
        "messages": messages,
        "broker": {"production": "RabbitMQ (pika)", "embedded": "SQL (SQLite file, polled)"}.get(mode, "none"),
        "poll_seconds": get_settings().feed_poll_seconds if mode == "embedded" else None,
        "sent_to_visible": stats(from_send),
        "reply_to_visible": stats(from_reply),
        "reply": stats(reply_ms),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=("embedded", "production", "no-broker", "both"), default="both")
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--seed-limit", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS / "feed_lag.json")
    args = parser.parse_args(argv)
    busy = warn_if_busy()
    modes = ("embedded", "production") if args.mode == "both" else (args.mode,)
    results = []
    for mode in modes:
        print(f"==> {mode}: {args.messages} messages")
        r = _run_mode(mode, args.messages, args.seed_limit)
        results.append(r)
        s, a, rep = r["sent_to_visible"], r["reply_to_visible"], r["reply"]
        if s is None:
            print(f"    no broker: bot reply p50 {rep['p50_ms']} ms, p95 {rep['p95_ms']} ms")
            continue
        print(f"    {r['broker']}: sent -> timeline p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms (max {s['max_ms']}); "
              f"reply -> timeline p50 {a['p50_ms']} ms, p95 {a['p95_ms']} ms; bot reply p50 {rep['p50_ms']} ms")
    write_json(args.out, {"measured_at": now_iso(), "machine": machine(), "busy_at_start": busy, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
