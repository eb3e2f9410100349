"""Benchmark: one long conversation (issue 12 item 3): is turn 200 as fast as turn 10, and does the action request
stop growing?

    .venv/bin/python benchmarks/long_conversation.py [--turns 200] [--stores bounded,stock] [--redis]
                                                     [--out results/bench/long_conversation.json]

In one run, on loopback addresses and free ports: a fresh SQLite CRM (``profiles.seed --limit``), our action
server, and per tracker store (``bounded``: bot/tracker_store.py as bot/endpoints*.yml configure it;
``stock``: Rasa 3.6's own store, as before) our Rasa server with the real models/, channels and event broker.
Between Rasa and the action server a small recording proxy notes the size of every action request. One
verified customer then plays ``--turns`` turns in ONE conversation, each message sent when the previous reply
arrived: a cycle of 10 messages (greeting, balance, FAQ, cards, a transfer begun and cancelled, thanks, a
product question), so turn n and turn n + 10 send the same message. Reported per store: median turn latency
over turns 6-15 and over the last 10 turns (same messages), their ratio (target <= 1.2), the largest action
request of those turns, and the events Rasa keeps at the end. ``--redis``: production mode instead of
embedded (Redis tracker store at REDIS_URL or the local default, RabbitMQ broker with a private queue).
Every reply is checked: an empty answer or the apology is counted as an error.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from common import (
    LOGS,
    RASA_BIN,
    RESULTS,
    ROOT,
    base_env,
    load_average,
    machine,
    now_iso,
    run_measured,
    tail,
    write_json,
)

from tests.e2e.conftest import (
    DEFAULT_RABBITMQ_URL,
    TEMPLATE_ACTION_URL,
    TEMPLATE_EVENTS_DB,
    _delete_queue,
    _free_port,
    _redis_env,
    _start,
    _stop,
    _wait_healthy,
)

TARGET_RATIO = 1.2
CYCLE = ("hello", "what's my balance", "what are your opening hours", "show my cards", "I want to transfer money",
         "stop", "how much money do I have", "thanks", "can I open a savings account", "what's my balance")
STOCK_TYPES = {"embedded": "rasa.core.tracker_store.InMemoryTrackerStore", "redis": "redis"}
BOUNDED_TYPES = {"embedded": "bot.tracker_store.BoundedInMemoryTrackerStore",
                 "redis": "bot.tracker_store.BoundedRedisTrackerStore"}


class RecordingProxy:
    """Forwards Rasa's action calls to the action server, noting each request body's size (bytes) in order."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.sizes: list[tuple[str, int]] = []  # (action name, request bytes)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    name = str(json.loads(body).get("next_action"))
                except ValueError:
                    name = "?"
                with proxy._lock:
                    proxy.sizes.append((name, len(body)))
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                response = httpx.post(proxy.target + self.path, content=body, headers=headers, timeout=60)
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def mark(self) -> int:
        with self._lock:
            return len(self.sizes)

    def since(self, mark: int) -> list[tuple[str, int]]:
        with self._lock:
            return self.sizes[mark:]


def play(rasa_url: str, rasa_token: str, token: str, turns: int, proxy: RecordingProxy) -> dict[str, Any]:
    """One conversation of ``turns`` turns; per turn its latency (ms) and its largest action request (bytes)."""
    sender = f"bench-long-{uuid.uuid4().hex[:10]}"
    rows: list[dict[str, Any]] = []
    with httpx.Client(timeout=120) as client:
        for n in range(1, turns + 1):
            text = CYCLE[(n - 1) % len(CYCLE)]
            mark = proxy.mark()
            t0 = time.perf_counter()
            response = client.post(f"{rasa_url}/webhooks/rest/webhook",
                                   json={"sender": sender, "message": text, "metadata": {"token": token}})
            ms = (time.perf_counter() - t0) * 1000
            replies = response.json() if response.status_code == 200 else []
            said = " ".join(str(r.get("text") or "") for r in replies)
            calls = proxy.since(mark)
            rows.append({"turn": n, "text": text, "ms": round(ms, 1), "status": response.status_code,
                         "ok": bool(said.strip()) and "something went wrong" not in said,
                         "action_calls": len(calls), "max_request_bytes": max((b for _, b in calls), default=0)})
        tracker = client.get(f"{rasa_url}/conversations/{sender}/tracker", params={"token": rasa_token}).json()
    return {"sender": sender, "turns": rows, "events_kept": len(tracker.get("events") or [])}


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    rows = run["turns"]
    early, late = rows[5:15], rows[-10:]
    early_ms, late_ms = statistics.median(r["ms"] for r in early), statistics.median(r["ms"] for r in late)
    return {
        "median_ms_turns_6_15": round(early_ms, 1),
        f"median_ms_turns_{late[0]['turn']}_{late[-1]['turn']}": round(late_ms, 1),
        "ratio_late_vs_early": round(late_ms / early_ms, 2),
        "turn_10_ms": rows[9]["ms"], "last_turn_ms": rows[-1]["ms"],
        "max_action_request_bytes_turns_6_15": max(r["max_request_bytes"] for r in early),
        "max_action_request_bytes_last_10": max(r["max_request_bytes"] for r in late),
        "events_kept_at_end": run["events_kept"],
        "errors": sum(not r["ok"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--stores", default="bounded,stock", help="comma-separated: bounded, stock")
    parser.add_argument("--redis", action="store_true", help="production mode: Redis tracker store, RabbitMQ broker")
    parser.add_argument("--seed-limit", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS / "long_conversation.json")
    args = parser.parse_args(argv)
    if args.turns < 20:
        parser.error("--turns must be at least 20 (turns 6-15 are the baseline)")
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not stores or any(s not in ("bounded", "stock") for s in stores):
        parser.error("--stores takes bounded and/or stock")
    mode = "redis" if args.redis else "embedded"
    model = ROOT / "models" / "nova.tar.gz"
    if not model.exists():
        raise SystemExit("ERROR: no trained model models/nova.tar.gz: run `make train` first")

    started, load_before = now_iso(), load_average()
    tmp = Path(tempfile.mkdtemp(prefix="nova-bench-long-"))
    jwt_secret, rasa_token, action_token = secrets.token_hex(32), secrets.token_hex(16), secrets.token_hex(16)
    database_url = f"sqlite:///{tmp / 'crm.db'}"
    # One customer sends 200 messages back to back: far over the per-conversation limits (30/minute), which
    # would answer "slow down" without doing the turn's work.
    env = base_env(DATABASE_URL=database_url, JWT_SECRET=jwt_secret, ACTION_SERVER_TOKEN=action_token,
                   SANIC_ACCESS_LOG="false", CHAT_RATE_LIMIT="100000/minute",
                   CHAT_CUSTOMER_RATE_LIMIT="100000/minute")
    queue = None
    template = ROOT / "bot" / ("endpoints.redis.yml" if args.redis else "endpoints.yml")
    if args.redis:
        queue = f"bench_long_{uuid.uuid4().hex[:8]}"
        rabbitmq = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
        env.update(_redis_env(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0", rabbitmq, queue))
    results: dict[str, Any] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        print(f"==> seeding a SQLite CRM with {args.seed_limit} customers")
        seeded = run_measured([sys.executable, "-m", "profiles.seed", "--limit", str(args.seed_limit), "--quiet"],
                              LOGS / "long_seed.log", env=env)
        if seeded.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{tail(seeded.log)}")
        action_port = _free_port()
        procs.append(_start([sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(action_port)],
                            LOGS / "long_actions.log", {**env, "SANIC_HOST": "127.0.0.1"}))
        _wait_healthy("action server", f"http://127.0.0.1:{action_port}/health", procs[0], LOGS / "long_actions.log",
                      lambda r: r.json().get("status") == "ok")
        proxy = RecordingProxy(f"http://127.0.0.1:{action_port}")

        os.environ.update(JWT_SECRET=jwt_secret, DATABASE_URL=database_url)
        from profiles.demo import DEMO_CUSTOMERS
        from profiles.identity import issue_token
        from profiles.settings import get_settings

        get_settings.cache_clear()
        token = issue_token(DEMO_CUSTOMERS[0], ttl_minutes=180)

        for store in stores:
            text = template.read_text().replace(TEMPLATE_ACTION_URL, f"http://127.0.0.1:{proxy.port}/webhook")
            if not args.redis:
                text = text.replace(TEMPLATE_EVENTS_DB, f"db: {tmp / f'events-{store}.db'}")
            if store == "stock":
                text = text.replace(f"type: {BOUNDED_TYPES[mode]}", f"type: {STOCK_TYPES[mode]}")
            endpoints = tmp / f"endpoints-{store}.yml"
            endpoints.write_text(text)
            port, log = _free_port(), LOGS / f"long_rasa_{store}.log"
            proc = _start([str(RASA_BIN), "run", "--enable-api", "--auth-token", rasa_token, "-m", str(model),
                           "--endpoints", str(endpoints), "--credentials", str(ROOT / "bot" / "credentials.yml"),
                           "-i", "127.0.0.1", "-p", str(port)], log, env)
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            print(f"==> {store} store ({mode}): starting Rasa")
            _wait_healthy(f"Rasa ({store})", f"{url}/status?token={rasa_token}", proc, log,
                          lambda r: bool(r.json().get("model_file")))
            t0 = time.monotonic()
            run = play(url, rasa_token, token, args.turns, proxy)
            summary = summarise(run)
            results[store] = {"summary": summary, "turns": run["turns"]}
            print(f"    {args.turns} turns in {time.monotonic() - t0:.0f} s: " + json.dumps(summary))
            _stop(proc)
            procs.remove(proc)
            if args.redis:
                import redis

                redis.Redis.from_url(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0").delete(
                    f"nova:tracker:{run['sender']}")
    finally:
        for proc in reversed(procs):
            _stop(proc)
        if queue:
            _delete_queue(os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL, queue)

    out = {"started": started, "finished": now_iso(), "machine": machine(), "load_average_before": load_before,
           "load_average_after": load_average(), "mode": mode, "turns": args.turns, "cycle": list(CYCLE),
           "target_ratio": TARGET_RATIO,
           "command": "python benchmarks/long_conversation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "stores": results}
    write_json(args.out, out)
    bounded = results.get("bounded", {}).get("summary")
    if bounded:
        verdict = "meets" if bounded["ratio_late_vs_early"] <= TARGET_RATIO and not bounded["errors"] else "MISSES"
        print(f"bounded store {verdict} the target: last 10 turns {bounded['ratio_late_vs_early']}x turns 6-15 "
              f"(target <= {TARGET_RATIO}), {bounded['errors']} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
