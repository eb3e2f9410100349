"""Benchmark: scale-out, 1 vs 2 Rasa workers (and action-server workers) side by side, in production mode.

    .venv/bin/python benchmarks/scale_out.py [--conversations 20,50] [--turns 8] [--think 0.5,1.5]
                                             [--rounds 2] [--out results/bench/scale_out.json]

In one run, on loopback addresses and free ports:

1. a fresh CRM (``DATABASE_URL`` on PostgreSQL: a private schema, dropped afterwards; else a SQLite file in a
   temporary folder), seeded with ``profiles.seed --limit``;
2. a private ``redis-server`` (append-only file, fsync every second, as docs/DEPLOY.md asks of production);
   RabbitMQ from ``RABBITMQ_URL`` (default: the local guest account) with private queues, deleted afterwards;
3. two stacks at once, each an action server and a Rasa server with bot/endpoints.redis.yml (Redis tracker and
   lock store, the durable RabbitMQ broker with its own outbox), as scripts/run.sh starts them:
   ``1w``: ``RASA_WORKERS=1 ACTION_WORKERS=1`` on Redis database 1; ``2w``: ``RASA_WORKERS=2 ACTION_WORKERS=2``
   (``SANIC_WORKERS=2``, ``ACTION_SERVER_SANIC_WORKERS=2``, the web chat's Redis client manager) on database 2;
4. per conversation count (``--conversations``), rounds alternating 1w, 2w, 2w, 1w, ... (``--rounds`` each)
   so that other jobs on the machine hit both alike. A round is that many concurrent REST conversations, each
   a different seeded customer with a signed token, ``--turns`` messages (greeting, balance, FAQ, ... as
   benchmarks/socketio_load.py asks), each sent a think time (uniform in ``--think`` seconds) after the
   previous reply: a closed loop at a per-conversation rate of about one message per
   ``think + latency`` seconds (the default, ~1 s, is a fast typist: a stress rate, not a typical customer).
   Conversations start at random times over ``--ramp`` seconds (1.5), as customers arrive. All at the same
   instant, the connections split unevenly (one worker used twice the other's CPU): Sanic's workers share one
   listening socket and the first to wake accepts every pending connection (docs/DEPLOY.md, "Limits"). Each
   round starts once the machine is quiet again (under 0.3 cores busy for a second, at most 20 s: the previous
   round's tail, RabbitMQ storing its events, otherwise fell on the next round).

Every reply is checked (benchmarks/socketio_load.py ``check_reply``: the balance must show a euro amount, no
reply may be empty). Counted apart, never timed: errors (HTTP error, timeout, an empty reply), wrong replies,
apologies (bot/reliability.py's "something went wrong") and lock failures (Rasa's "Failed to acquire lock"
in its log during the round). Throughput is answered turns per second of the round's wall time.
Target (issue 12 item 7): at each conversation count, throughput(2w) >= 1.5 x throughput(1w) with
p95(2w) <= p95(1w), 0 errors and 0 lock failures. Prints a markdown table and writes the JSON, with the load
average and the CPU other processes used during each round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from chat_latency import _machine_busy_cpu, _proc_tree_cpu
from common import LOGS, RASA_PY, RESULTS, ROOT, base_env, load_average, machine, now_iso, percentile, write_json
from socketio_load import QUESTIONS, check_reply

from tests.e2e.conftest import (
    DEFAULT_RABBITMQ_URL,
    TEMPLATE_ACTION_URL,
    _delete_queue,
    _free_port,
    _fresh_database,
    _redis_env,
    _start,
    _stop,
    _wait_healthy,
)

TARGET_THROUGHPUT = 1.5
REPLY_TIMEOUT_S = 120.0
APOLOGY = "something went wrong"
LOCK_FAILURES = ("failed to acquire lock", "could not acquire lock", "lockerror")  # Rasa's words, lower case


@dataclass
class Stack:
    """One configuration's servers: name (``1w``/``2w``), workers, URL, processes and Rasa's log."""

    name: str
    workers: int
    url: str
    procs: dict[str, subprocess.Popen[bytes]]
    rasa_log: Path
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def lock_failures(self, offset: int) -> tuple[int, int]:
        """Log lines about a lock failure Rasa wrote since byte ``offset`` of its log, and the log's new size."""
        with self.rasa_log.open("rb") as f:
            f.seek(offset)
            new = f.read()
        lines = new.decode(errors="replace").lower().splitlines()
        return sum(any(m in line for m in LOCK_FAILURES) for line in lines), offset + len(new)


@dataclass
class Tally:
    """One round's outcomes."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    apologies: int = 0


async def conversation(client: httpx.AsyncClient, url: str, sender: str, token: str, turns: int,
                       think: tuple[float, float], rng: random.Random, tally: Tally, ramp: float) -> None:
    """``turns`` messages of one verified customer, each a think time after the previous reply; the first
    after a delay uniform in ``ramp`` seconds."""
    await asyncio.sleep(rng.uniform(0, ramp))  # spread the starts
    for i in range(turns):
        question = QUESTIONS[i % len(QUESTIONS)]
        t0 = time.perf_counter()
        try:
            response = await client.post(f"{url}/webhooks/rest/webhook", json={
                "sender": sender, "message": question, "metadata": {"token": token}})
            ms = (time.perf_counter() - t0) * 1000
            if response.status_code != 200:
                tally.errors.append(f"HTTP {response.status_code}")
            else:
                texts = [str(r.get("text") or "") for r in response.json()]
                if not "".join(texts).strip():
                    tally.errors.append("empty reply")
                elif any(APOLOGY in t.lower() for t in texts):
                    tally.apologies += 1
                elif (problem := check_reply(question, texts, verified=True)) is not None:
                    tally.wrong.append(problem)
                else:
                    tally.latencies_ms.append(ms)
        except (httpx.HTTPError, ValueError) as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}"[:160])
        await asyncio.sleep(rng.uniform(*think))


async def run_round(stack: Stack, tokens: list[str], turns: int, think: tuple[float, float], label: str,
                    rng: random.Random, ramp: float) -> dict[str, Any]:
    """``len(tokens)`` concurrent conversations on ``stack``; the round's figures (also kept on the stack)."""
    tally = Tally()
    _, log_offset = stack.lock_failures(0)
    cpu0 = {name: _proc_tree_cpu(p.pid) for name, p in stack.procs.items()}
    machine0, load0 = _machine_busy_cpu(), load_average()
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=REPLY_TIMEOUT_S, limits=limits) as client:
        await asyncio.gather(*(
            conversation(client, stack.url, f"scale-{stack.name}-{label}-{i}-{uuid.uuid4().hex[:6]}", token, turns,
                         think, rng, tally, ramp)
            for i, token in enumerate(tokens)))
    wall = time.perf_counter() - t0
    locks, _ = stack.lock_failures(log_offset)
    cpu = {name: _proc_tree_cpu(p.pid) - cpu0[name] for name, p in stack.procs.items()}
    other = max(_machine_busy_cpu() - machine0 - sum(cpu.values()), 0.0) / wall
    figures = {
        "stack": stack.name, "conversations": len(tokens), "round": label, "turns_ok": len(tally.latencies_ms),
        "errors": len(tally.errors), "error_samples": sorted(set(tally.errors))[:5], "wrong": len(tally.wrong),
        "wrong_samples": sorted(set(tally.wrong))[:3], "apologies": tally.apologies, "lock_failures": locks,
        "wall_s": round(wall, 2), "throughput_tps": round(len(tally.latencies_ms) / wall, 2),
        "p50_ms": round(percentile(tally.latencies_ms, 50), 1) if tally.latencies_ms else None,
        "p95_ms": round(percentile(tally.latencies_ms, 95), 1) if tally.latencies_ms else None,
        "cpu_s_per_turn": {k: round(v / max(len(tally.latencies_ms), 1), 4) for k, v in cpu.items()},
        "other_processes_cores": round(other, 2), "load_before": load0, "load_after": load_average(),
        "latencies_ms": [round(x, 1) for x in tally.latencies_ms],
    }
    stack.rounds.append(figures)
    return figures


def pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One stack's rounds at one conversation count, pooled: sums, throughput over the summed wall time,
    percentiles over every latency."""
    lat = [x for r in rounds for x in r["latencies_ms"]]
    wall = sum(r["wall_s"] for r in rounds)
    return {
        "rounds": len(rounds), "turns_ok": len(lat), "errors": sum(r["errors"] for r in rounds),
        "wrong": sum(r["wrong"] for r in rounds), "apologies": sum(r["apologies"] for r in rounds),
        "lock_failures": sum(r["lock_failures"] for r in rounds),
        "throughput_tps": round(len(lat) / wall, 2) if wall else 0.0,
        "p50_ms": round(percentile(lat, 50), 1) if lat else None, "p95_ms": round(percentile(lat, 95), 1) if lat else None,
        "other_processes_cores": round(sum(r["other_processes_cores"] * r["wall_s"] for r in rounds) / wall, 2)
        if wall else None,
        "load_1min": [r["load_before"][0] for r in rounds if r["load_before"]],
    }


def markdown(table: dict[int, dict[str, dict[str, Any]]]) -> str:
    """The side-by-side table: per conversation count, 1w and 2w, with the 2w/1w ratios."""
    lines = ["| conversations | workers (Rasa + actions) | turns ok | errors | lock failures | apologies / wrong | "
             "throughput (turns/s) | p50 (ms) | p95 (ms) | 2w / 1w |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n, by_stack in table.items():
        one, two = by_stack.get("1w"), by_stack.get("2w")
        for name, fig in by_stack.items():
            ratio = ""
            if name == "2w" and one and two and one["throughput_tps"] and one["p95_ms"] and two["p95_ms"]:
                ratio = (f"throughput {two['throughput_tps'] / one['throughput_tps']:.2f}x, "
                         f"p95 {two['p95_ms'] / one['p95_ms']:.2f}x")
            lines.append(f"| {n} | {name[0]} + {name[0]} | {fig['turns_ok']} | {fig['errors']} | {fig['lock_failures']} | "
                         f"{fig['apologies']} / {fig['wrong']} | {fig['throughput_tps']} | {fig['p50_ms']} | "
                         f"{fig['p95_ms']} | {ratio} |")
    return "\n".join(lines)


def settle(quiet_cores: float = 0.3, max_wait_s: float = 20.0) -> float:
    """Wait until the machine used under ``quiet_cores`` cores over one second (the previous round's tail:
    RabbitMQ storing its events, Redis, PostgreSQL), at most ``max_wait_s``; the seconds waited. Without it a
    round could start on a busy machine, which costs the stack that needs both cores most."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait_s:
        busy0 = _machine_busy_cpu()
        time.sleep(1.0)
        if _machine_busy_cpu() - busy0 < quiet_cores:
            break
    return time.monotonic() - t0


def wait_workers(stack: Stack, rasa_token: str, deadline_s: float = 600) -> None:
    """Wait until every Rasa worker has loaded the model: ``/status`` answers with a model on each worker, asked
    with the other workers stopped (SIGSTOP; the workers share one listening socket). Raises RuntimeError."""
    url = f"{stack.url}/status?token={rasa_token}"
    _wait_healthy(f"Rasa server {stack.name}", url, stack.procs["rasa"], stack.rasa_log,
                  lambda r: bool(r.json().get("model_file")))
    pid = stack.procs["rasa"].pid
    t0 = time.monotonic()
    while True:
        workers = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        if stack.workers == 1 or len(workers) >= stack.workers:
            break
        if time.monotonic() - t0 > deadline_s:
            raise RuntimeError(f"Rasa ({stack.name}) has {len(workers)} workers, not {stack.workers}")
        time.sleep(0.5)
    if stack.workers == 1:
        return
    for worker in workers:
        others = [w for w in workers if w != worker]
        for w in others:
            os.kill(w, signal.SIGSTOP)
        try:
            _wait_healthy(f"Rasa {stack.name} worker {worker}", url, stack.procs["rasa"], stack.rasa_log,
                          lambda r: bool(r.json().get("model_file")))
        finally:
            for w in others:
                os.kill(w, signal.SIGCONT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", default="20,50", help="concurrent conversations, comma-separated")
    parser.add_argument("--turns", type=int, default=8, help="messages per conversation")
    parser.add_argument("--think", default="0.5,1.5", help="think time between a reply and the next message, s")
    parser.add_argument("--ramp", type=float, default=1.5,
                        help="conversations start at random times over this many seconds (customers arrive one by one)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per stack and conversation count")
    parser.add_argument("--seed-limit", type=int, default=120, help="customers imported into the temporary CRM")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale_out.json")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.conversations.split(",")]
    lo, hi = (float(x) for x in args.think.split(","))
    started, load_at_start = now_iso(), load_average()
    tmp = Path(tempfile.mkdtemp(prefix="nova-bench-scale-"))
    LOGS.mkdir(parents=True, exist_ok=True)
    jwt_secret = secrets.token_hex(32)
    rasa_token = secrets.token_hex(16)
    rabbitmq_url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
    configured_db = os.environ.get("DATABASE_URL", "")
    os.environ.pop("DATABASE_URL", None)
    if configured_db.startswith("postgresql"):
        os.environ["DATABASE_URL"] = configured_db
    database = _fresh_database(tmp)
    redis_port = _free_port()
    queues: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    stacks: list[Stack] = []
    env = base_env(DATABASE_URL=database.url, JWT_SECRET=jwt_secret, ACTION_SERVER_TOKEN=secrets.token_hex(16),
                   SANIC_ACCESS_LOG="false", CHAT_RATE_LIMIT="100000/minute",
                   CHAT_CUSTOMER_RATE_LIMIT="100000/minute", RABBITMQ_URL=rabbitmq_url)
    try:
        print(f"==> seeding a CRM ({'PostgreSQL schema' if database.drop else 'SQLite'}) with {args.seed_limit} customers")
        seed = subprocess.run([sys.executable, "-m", "profiles.seed", "--limit", str(args.seed_limit), "--quiet"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        if seed.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{seed.stdout}\n{seed.stderr}")
        procs.append(_start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(tmp)],
                            LOGS / "scale_redis.log", env))
        for db, workers in ((1, 1), (2, 2)):
            name = f"{workers}w"
            queue = f"scale_events_{os.getpid()}_{name}"
            queues.append(queue)
            action_port, rasa_port = _free_port(), _free_port()
            redis_url = f"redis://127.0.0.1:{redis_port}/{db}"
            stack_env = {**env, **_redis_env(redis_url, rabbitmq_url, queue), "EVENT_QUEUE": queue,
                         "EVENT_OUTBOX": str(tmp / f"outbox-{name}.db")}
            if workers > 1:  # as scripts/run.sh with RASA_WORKERS > 1 (bot/web_chat_scale.py)
                stack_env.update(WEB_CHAT_REDIS_URL=redis_url, WEB_CHAT_TRANSPORTS="websocket")
            endpoints = tmp / f"endpoints-{name}.yml"
            endpoints.write_text((ROOT / "bot" / "endpoints.redis.yml").read_text().replace(
                TEMPLATE_ACTION_URL, f"http://127.0.0.1:{action_port}/webhook"))
            logs = {"actions": LOGS / f"scale_actions_{name}.log", "rasa": LOGS / f"scale_rasa_{name}.log"}
            stack_procs = {
                "actions": _start([sys.executable, "-m", "actions.server", "--actions", "actions",
                                   "--port", str(action_port)], logs["actions"],
                                  {**stack_env, "SANIC_HOST": "127.0.0.1",
                                   "ACTION_SERVER_SANIC_WORKERS": str(workers)}),
                "rasa": _start([str(RASA_PY), "-m", "bot.serve", "run", "--enable-api", "-m", str(ROOT / "models"),
                                "--endpoints", str(endpoints), "--credentials", str(ROOT / "bot" / "credentials.yml"),
                                "-i", "127.0.0.1", "-p", str(rasa_port)], logs["rasa"],
                               {**stack_env, "RASA_TOKEN": rasa_token, "SANIC_WORKERS": str(workers)}),
            }
            procs.extend(stack_procs.values())
            stacks.append(Stack(name, workers, f"http://127.0.0.1:{rasa_port}", stack_procs, logs["rasa"]))
            print(f"==> starting stack {name}: {workers} Rasa worker(s) + {workers} action worker(s), Redis db {db}")
            _wait_healthy(f"action server {name}", f"http://127.0.0.1:{action_port}/health", stack_procs["actions"],
                          logs["actions"], lambda r: r.json().get("status") == "ok")
        for stack in stacks:
            wait_workers(stack, rasa_token)
        print("    all healthy")

        os.environ["JWT_SECRET"] = jwt_secret
        os.environ["DATABASE_URL"] = database.url
        from profiles.identity import issue_token
        from profiles.settings import get_settings

        get_settings.cache_clear()
        tokens = [issue_token(cid, ttl_minutes=240) for cid in range(1, max(counts) + 1)]
        rng = random.Random(12)
        print("==> warm-up (every question once per stack)")
        for stack in stacks:
            asyncio.run(run_round(stack, tokens[:4], len(QUESTIONS), (0.0, 0.1), "warmup", rng, 0.1))
            stack.rounds.clear()

        table: dict[int, dict[str, dict[str, Any]]] = {}
        for n in counts:
            order = [s for r in range(args.rounds) for s in (stacks if r % 2 == 0 else stacks[::-1])]
            for i, stack in enumerate(order):
                settled = settle()
                fig = asyncio.run(run_round(stack, tokens[:n], args.turns, (lo, hi), f"{n}-{i}", rng, args.ramp))
                print(f"    {n} conversations, {stack.name}: {fig['turns_ok']} ok, {fig['errors']} errors, "
                      f"{fig['lock_failures']} lock failures, {fig['throughput_tps']} turns/s, p50 {fig['p50_ms']} ms, "
                      f"p95 {fig['p95_ms']} ms (load {fig['load_before']}, other processes "
                      f"{fig['other_processes_cores']} cores; waited {settled:.1f} s for a quiet machine)")
                fig["settle_wait_s"] = round(settled, 1)
            table[n] = {s.name: pooled([r for r in s.rounds if r["conversations"] == n]) for s in stacks}

        verdicts = {}
        for n, by_stack in table.items():
            one, two = by_stack["1w"], by_stack["2w"]
            verdicts[n] = {
                "throughput_ratio": round(two["throughput_tps"] / one["throughput_tps"], 2) if one["throughput_tps"] else None,
                "p95_ratio": round(two["p95_ms"] / one["p95_ms"], 2) if one["p95_ms"] and two["p95_ms"] else None,
            }
            verdicts[n]["met"] = bool(
                verdicts[n]["throughput_ratio"] and verdicts[n]["throughput_ratio"] >= TARGET_THROUGHPUT
                and verdicts[n]["p95_ratio"] is not None and verdicts[n]["p95_ratio"] <= 1.0
                and all(b["errors"] == 0 and b["lock_failures"] == 0 for b in by_stack.values()))
        md = markdown(table)
        print()
        print(md)
        print(f"\nverdicts: {verdicts}; load average at start {load_at_start}, at end {load_average()}")
        write_json(args.out, {
            "benchmark": "scale_out", "started": started, "finished": now_iso(), "machine": machine(),
            "settings": {"conversations": counts, "turns": args.turns, "think_s": [lo, hi], "ramp_s": args.ramp, "rounds": args.rounds,
                         "database": "postgresql" if database.drop else "sqlite",
                         "questions": list(QUESTIONS)},
            "load_average_start": load_at_start, "load_average_end": load_average(),
            "table": {str(k): v for k, v in table.items()}, "verdicts": {str(k): v for k, v in verdicts.items()},
            "markdown": md, "rounds": [r for s in stacks for r in s.rounds],
        })
        print(f"==> wrote {args.out}")
        return 0
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for queue in queues:
            _delete_queue(rabbitmq_url, queue)
        if database.drop is not None:
            database.drop()


if __name__ == "__main__":
    sys.exit(main())
