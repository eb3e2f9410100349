"""Benchmark: concurrent web-chat sessions over socket.io (the widget's channel), 20 and 200 side by side.

    .venv/bin/python benchmarks/socketio_load.py [--sessions 20,200] [--turns 3] [--think 10,30]
                                                 [--out results/bench/socketio_load.json]

In one run, on loopback addresses and free ports: a fresh SQLite CRM in a temporary folder (``profiles.seed
--limit``), our action server and our Rasa server (models/, in-memory tracker store, SQL event broker into a
file of the run's own, ``bot/credentials.yml``: the socket.io channel of bot/socketio_channel.py). Then, per
phase (one phase per ``--sessions`` value, in order), that many web-chat sessions at once, each one a
python-socketio client doing what the widget does:

1. connect (websocket transport), ``session_request`` (every other session carrying a demo customer's signed
   token, the rest anonymous), wait for ``session_confirm``;
2. ``--turns`` questions ("hi", "what's my balance?", "what exchange rate do you use?", ...), each sent after
   a think time drawn uniformly from ``--think`` seconds (a person reading and typing; the first one also
   spreads the sessions' starts); the reply latency is from ``user_uttered`` to the first ``bot_uttered``;
   the next think time starts once the turn's replies have stopped for ``QUIET_S``.

Phases alternate for ``--rounds`` rounds (20, 200, 20, 200 by default) so that other jobs on the machine hit
both alike; the table pools each session count's rounds, the JSON also has every round and the CPU other
processes used meanwhile. Every reply is checked: a verified customer's balance must show a euro amount, an anonymous visitor's must ask
them to log in, every other question must get a text. An error is a failed connection, no session_confirm, an
``error`` event, or no reply within ``REPLY_TIMEOUT_S``; a wrong reply is counted apart; neither is timed.
Target: 0 errors and p95(200 sessions) <= 2 x p95(20 sessions). Prints a markdown table and writes the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio  # type: ignore[import-untyped]
from common import (
    LOGS,
    RASA_BIN,
    RESULTS,
    ROOT,
    base_env,
    machine,
    now_iso,
    percentile,
    run_measured,
    tail,
    warn_if_busy,
    write_json,
)

from tests.e2e.conftest import TEMPLATE_ACTION_URL, _free_port, _start, _stop, _wait_healthy

TARGET_RATIO = 2.0
REPLY_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 30.0
QUIET_S = 0.5  # a turn's replies have stopped when none came for this long
# The clients send this Origin, as the widget's page would (Rasa refuses a missing one outside development).
ORIGIN = "http://127.0.0.1:8000"
QUESTIONS = ("hi", "what's my balance?", "what exchange rate do you use?", "how do I top up my card?",
             "thanks")


@dataclass
class Phase:
    """The results of one phase: latencies of answered turns, errors, wrong replies, connection times."""

    sessions: int
    latencies_ms: list[float] = field(default_factory=list)
    verified_ms: list[float] = field(default_factory=list)
    anonymous_ms: list[float] = field(default_factory=list)
    connect_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    rasa_cpu_s: float = 0.0
    actions_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    other_cpu_s: float = 0.0  # every other process on the machine meanwhile (other people's jobs)

    def figures(self) -> dict[str, Any]:
        n = len(self.latencies_ms)
        return {
            "sessions": self.sessions,
            "turns": n,
            "errors": len(self.errors),
            "wrong_replies": len(self.wrong),
            "error_examples": sorted(set(self.errors))[:5],
            "wrong_examples": self.wrong[:3],
            "p50_ms": round(percentile(self.latencies_ms, 50), 1),
            "p95_ms": round(percentile(self.latencies_ms, 95), 1),
            "p99_ms": round(percentile(self.latencies_ms, 99), 1),
            "max_ms": round(max(self.latencies_ms), 1) if n else None,
            "p95_verified_ms": round(percentile(self.verified_ms, 95), 1),
            "p95_anonymous_ms": round(percentile(self.anonymous_ms, 95), 1),
            "connect_p50_ms": round(percentile(self.connect_ms, 50), 1),
            "connect_p95_ms": round(percentile(self.connect_ms, 95), 1),
            "wall_s": round(self.wall_s, 1),
            "turns_per_s": round(n / self.wall_s, 2) if self.wall_s else None,
            "rasa_cpu_ms_per_turn": round(1000 * self.rasa_cpu_s / n, 1) if n else None,
            "actions_cpu_ms_per_turn": round(1000 * self.actions_cpu_s / n, 1) if n else None,
            "rasa_cpu_cores": round(self.rasa_cpu_s / self.wall_s, 2) if self.wall_s else None,
            "load_generator_cpu_cores": round(self.client_cpu_s / self.wall_s, 2) if self.wall_s else None,
            "other_processes_cores": round(self.other_cpu_s / self.wall_s, 2) if self.wall_s else None,
        }

    def merge(self, other: Phase) -> None:
        """Add another round of the same session count."""
        for name in ("latencies_ms", "verified_ms", "anonymous_ms", "connect_ms", "errors", "wrong"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("wall_s", "rasa_cpu_s", "actions_cpu_s", "client_cpu_s", "other_cpu_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def proc_tree_cpu(root_pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            raw = (proc / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(proc.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(child for child, (ppid, _) in stats.items() if ppid == pid)
    return total


def machine_busy_cpu() -> float:
    """CPU seconds all processes on the machine have used (busy jiffies of /proc/stat's total line)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def check_reply(question: str, texts: list[str], verified: bool) -> str | None:
    """Why the replies to ``question`` are wrong, or None."""
    joined = "\n".join(texts)
    if not joined.strip():
        return "empty reply"
    if "balance" in question:
        if verified and "€" not in joined:
            return f"verified balance without an amount: {joined[:120]!r}"
        if not verified and ("log in" not in joined or "€" in joined):
            return f"anonymous balance not asked to log in: {joined[:120]!r}"
    return None


async def session(rasa_url: str, token: str | None, turns: int, think: tuple[float, float], phase: Phase,
                  rng: random.Random) -> None:
    """One web-chat session as the widget runs it (see the module docstring)."""
    client = socketio.AsyncClient(reconnection=False)
    inbox: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
    confirmed: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    refused: list[str] = []

    async def on_bot(message: dict[str, Any]) -> None:
        await inbox.put((time.perf_counter(), str(message.get("text") or "")))

    async def on_error(body: Any) -> None:
        refused.append(str(body)[:120])

    client.on("bot_uttered", on_bot)
    client.on("session_confirm", confirmed.put)
    client.on("error", on_error)
    await asyncio.sleep(rng.uniform(*think))  # sessions start spread out, as visitors arrive
    t0 = time.perf_counter()
    try:
        await client.connect(rasa_url, transports=["websocket"], wait_timeout=CONNECT_TIMEOUT_S,
                             headers={"Origin": ORIGIN})
        await client.emit("session_request", {"session_id": None, "token": token})
        session_id = (await asyncio.wait_for(confirmed.get(), CONNECT_TIMEOUT_S))["session_id"]
        phase.connect_ms.append((time.perf_counter() - t0) * 1000)
        for turn in range(turns):
            if turn:
                await asyncio.sleep(rng.uniform(*think))
            question = QUESTIONS[turn % len(QUESTIONS)]
            sent = time.perf_counter()
            await client.emit("user_uttered", {"message": question, "session_id": session_id})
            first, text = await asyncio.wait_for(inbox.get(), REPLY_TIMEOUT_S)
            texts = [text]
            while True:  # the rest of this turn's replies
                try:
                    texts.append((await asyncio.wait_for(inbox.get(), QUIET_S))[1])
                except TimeoutError:
                    break
            if refused:
                phase.errors.append(f"error event: {refused[-1]}")
                return
            wrong = check_reply(question, texts, token is not None)
            if wrong:
                phase.wrong.append(wrong)
                continue
            ms = (first - sent) * 1000
            phase.latencies_ms.append(ms)
            (phase.verified_ms if token else phase.anonymous_ms).append(ms)
    except TimeoutError:
        phase.errors.append("timeout: no session_confirm or no reply")
    except socketio.exceptions.SocketIOError as exc:
        phase.errors.append(f"{type(exc).__name__}: {exc}"[:160])
    finally:
        await client.disconnect()


async def run_phase(rasa_url: str, tokens: list[str], sessions: int, turns: int, think: tuple[float, float],
                    pids: dict[str, int], seed: int) -> Phase:
    """``sessions`` concurrent sessions, every other one verified."""
    phase = Phase(sessions)
    rng = random.Random(seed)
    cpu0 = {name: proc_tree_cpu(pid) for name, pid in pids.items()}
    client0, machine0 = time.process_time(), machine_busy_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(
        session(rasa_url, tokens[i % len(tokens)] if i % 2 == 0 else None, turns, think, phase,
                random.Random(rng.random()))
        for i in range(sessions)
    ))
    phase.wall_s = time.perf_counter() - t0
    phase.rasa_cpu_s = proc_tree_cpu(pids["rasa"]) - cpu0["rasa"]
    phase.actions_cpu_s = proc_tree_cpu(pids["actions"]) - cpu0["actions"]
    phase.client_cpu_s = time.process_time() - client0
    phase.other_cpu_s = max(machine_busy_cpu() - machine0 - phase.rasa_cpu_s - phase.actions_cpu_s
                            - phase.client_cpu_s, 0.0)
    return phase


def markdown(phases: list[dict[str, Any]], ratio: float | None, ok: bool) -> str:
    rows = [
        "| sessions | turns | errors / wrong | p50 | p95 | p99 | p95 verified / anonymous | connect p95 | "
        "turns/s | Rasa CPU per turn | other processes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in phases:
        rows.append(
            f"| {f['sessions']} | {f['turns']} | {f['errors']} / {f['wrong_replies']} | {f['p50_ms']:.0f} ms | "
            f"{f['p95_ms']:.0f} ms | {f['p99_ms']:.0f} ms | {f['p95_verified_ms']:.0f} / "
            f"{f['p95_anonymous_ms']:.0f} ms | {f['connect_p95_ms']:.0f} ms | {f['turns_per_s']} | "
            f"{f['rasa_cpu_ms_per_turn']} ms | {f['other_processes_cores']} cores |"
        )
    verdict = "met" if ok else "**missed**"
    rows.append("")
    rows.append(f"p95({phases[-1]['sessions']}) / p95({phases[0]['sessions']}) = "
                f"{ratio if ratio is not None else 'n/a'} (target <= {TARGET_RATIO}, 0 errors): {verdict}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="20,200", help="comma-separated session counts, one phase each")
    parser.add_argument("--turns", type=int, default=3, help="questions per session")
    parser.add_argument("--think", default="10,30", help="think time range in seconds, min,max")
    parser.add_argument("--seed-limit", type=int, default=300, help="customers imported into the temporary CRM")
    parser.add_argument("--seed", type=int, default=7, help="random seed of think times")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of all phases, alternating (20, 200, 20, 200, ...) so machine noise hits both")
    parser.add_argument("--out", type=Path, default=RESULTS / "socketio_load.json")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.sessions.split(",") if x.strip()]
    lo, hi = (float(x) for x in args.think.split(","))
    if not counts or min(counts) < 1 or args.turns < 1 or args.rounds < 1 or not 0 <= lo <= hi:
        parser.error("--sessions needs positive counts, --turns and --rounds >= 1, --think min,max with 0 <= min <= max")
    model = ROOT / "models"
    if not any(model.glob("*.tar.gz")):
        raise SystemExit("ERROR: no trained model in models/: run `make train`")

    started = now_iso()
    busy = warn_if_busy()
    tmp = Path(tempfile.mkdtemp(prefix="nova-bench-socketio-"))
    jwt_secret = secrets.token_hex(32)
    rasa_token = secrets.token_hex(16)
    database_url = f"sqlite:///{tmp / 'crm.db'}"
    env = base_env(DATABASE_URL=database_url, JWT_SECRET=jwt_secret, WEB_CHAT_ORIGINS=ORIGIN, ACTION_SERVER_TOKEN=secrets.token_hex(16))  # actions/server.py wants the secret
    env.pop("RABBITMQ_URL", None)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        print(f"==> seeding a SQLite CRM with {args.seed_limit} customers")
        seeded = run_measured([sys.executable, "-m", "profiles.seed", "--limit", str(args.seed_limit), "--quiet"],
                              LOGS / "socketio_seed.log", env=env)
        if seeded.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{tail(seeded.log)}")

        action_port, rasa_port = _free_port(), _free_port()
        endpoints = tmp / "endpoints.yml"
        endpoints.write_text((ROOT / "bot" / "endpoints.yml").read_text()
                             .replace(TEMPLATE_ACTION_URL, f"http://127.0.0.1:{action_port}/webhook")
                             .replace("db: var/events.db", f"db: {tmp / 'events.db'}"))
        logs = {"actions": LOGS / "socketio_actions.log", "rasa": LOGS / "socketio_rasa.log"}
        LOGS.mkdir(parents=True, exist_ok=True)
        print("==> starting the action server and Rasa")
        t0 = time.monotonic()
        procs["actions"] = _start([sys.executable, "-m", "actions.server", "--actions", "actions", "--port",
                                   str(action_port)], logs["actions"], {**env, "SANIC_HOST": "127.0.0.1"})
        procs["rasa"] = _start([str(RASA_BIN), "run", "--enable-api", "--auth-token", rasa_token, "-m", str(model),
                                "--endpoints", str(endpoints), "--credentials", str(ROOT / "bot" / "credentials.yml"),
                                "-i", "127.0.0.1", "-p", str(rasa_port)], logs["rasa"], env)
        rasa_url = f"http://127.0.0.1:{rasa_port}"
        _wait_healthy("action server", f"http://127.0.0.1:{action_port}/health", procs["actions"], logs["actions"],
                      lambda r: r.json().get("status") == "ok")
        _wait_healthy("Rasa server", f"{rasa_url}/status?token={rasa_token}", procs["rasa"], logs["rasa"],
                      lambda r: bool(r.json().get("model_file")))
        print(f"    healthy after {time.monotonic() - t0:.1f} s")

        os.environ["JWT_SECRET"] = jwt_secret
        os.environ["DATABASE_URL"] = database_url
        from profiles.demo import DEMO_CUSTOMERS
        from profiles.identity import issue_token
        from profiles.settings import get_settings

        get_settings.cache_clear()
        tokens = [issue_token(cid, ttl_minutes=180) for cid in DEMO_CUSTOMERS]
        pids = {name: proc.pid for name, proc in procs.items()}

        async def warm_up() -> None:  # every question once, verified and anonymous (first calls load models)
            warm = Phase(0)
            await asyncio.gather(*(session(rasa_url, tokens[0] if i % 2 == 0 else None, args.turns, (0, 0.2),
                                           warm, random.Random(i)) for i in range(4)))
            if warm.errors:
                raise RuntimeError(f"warm-up failed: {warm.errors[:3]}")

        print("==> warm-up (4 sessions)")
        asyncio.run(warm_up())
        pooled = {count: Phase(count) for count in counts}
        rounds: list[dict[str, Any]] = []
        for r in range(args.rounds):
            for i, count in enumerate(counts):
                print(f"==> round {r + 1}: {count} concurrent sessions, {args.turns} questions each, "
                      f"think {lo:g}-{hi:g} s")
                phase = asyncio.run(run_phase(rasa_url, tokens, count, args.turns, (lo, hi), pids,
                                              args.seed + 100 * r + i))
                pooled[count].merge(phase)
                figures = phase.figures()
                rounds.append({"round": r + 1, **figures})
                print(f"    {figures['turns']} turns, {figures['errors']} errors, {figures['wrong_replies']} wrong, "
                      f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
                      f"other processes {figures['other_processes_cores']} cores")
        results = [pooled[count].figures() for count in counts]
        ratio = (round(results[-1]["p95_ms"] / results[0]["p95_ms"], 2)
                 if len(results) > 1 and results[0]["p95_ms"] else None)
        ok = all(r["errors"] == 0 for r in results) and ratio is not None and ratio <= TARGET_RATIO
        table = markdown(results, ratio, ok)
        print()
        print(table)
        write_json(args.out, {
            "benchmark": "socketio_load",
            "started": started,
            "finished": now_iso(),
            "machine": machine(),
            "busy_processes_at_start": busy,
            "settings": {"sessions": counts, "turns": args.turns, "think_s": [lo, hi], "quiet_s": QUIET_S,
                         "reply_timeout_s": REPLY_TIMEOUT_S, "rounds": args.rounds, "questions": list(QUESTIONS[:args.turns]),
                         "verified_share": "every other session", "seed_limit": args.seed_limit,
                         "transport": "websocket", "tracker_store": "in-memory"},
            "phases": results,
            "rounds": rounds,
            "p95_ratio": ratio,
            "target": f"0 errors and p95({counts[-1]}) <= {TARGET_RATIO} x p95({counts[0]})",
            "target_met": ok,
            "markdown": table,
        })
        return 0 if ok else 1
    finally:
        for proc in procs.values():
            _stop(proc)


if __name__ == "__main__":
    sys.exit(main())
