"""Benchmark: chat-turn latency and throughput over REST, our bot side by side with a bare Rasa bot.

    .venv/bin/python benchmarks/chat_latency.py [--conversations 20] [--turns 10] [--rounds 8]
                                                [--out results/bench/chat_latency.json]

In one run, on loopback addresses and free ports:

1. a fresh SQLite CRM in a temporary folder, seeded with ``profiles.seed --limit``;
2. the bare bot (benchmarks/bare_bot/: the same NLU pipeline and NLU data files as ours, check_balance
   answered by a static response through a rule, no action server) trained into the temporary folder;
3. three servers at once: our action server, our Rasa server (models/, in-memory tracker store, actions on
   that action server) and the bare bot's Rasa server; same Rasa flags and channels for both bots;
4. per bot a warm-up, then rounds alternating ours, bare, ours, bare, ... so machine noise hits both alike. A
   round is ``--conversations`` concurrent conversations (asyncio + httpx), each a verified demo customer
   (a token from ``profiles.issue_token`` with the servers' JWT secret in the message metadata) asking for
   the balance ``--turns`` times, each message sent when the previous reply arrived (closed loop). On our
   bot a turn runs action_show_balance (token check, database read and the suggestion gate); the product
   suggestion (action_offer_product) follows as a second call only when one is due, at most once a session;
5. an experiment, run as a third bot in the same alternation (``--no-experiment`` leaves it out): our bot on
   a Rasa server with Rasa 3.6's stock validation of action-server responses (benchmarks/
   rasa_stock_validation.py switches off bot/response_validation.py, which our model's component module
   installs): what that fix buys. An earlier run of this benchmark found the stock per-response
   ``jsonschema.validate`` (which re-checks the schema itself every call) to be most of our turn's extra CPU;
6. a profile, one conversation at a time: turn latency, HTTP round trip, NLU parse and one policy prediction
   (Rasa's HTTP API), the action server's time per action (replaying the request Rasa sends), Rasa's own
   per-action-call work (building the request, validating the response) timed with Rasa's classes, and from
   those a breakdown of our turn's extra time. Under load, the CPU time of every server process per turn.

Every reply is checked (ours must show a euro amount, the bare bot its static text); a wrong reply or an
HTTP error is counted, never timed as a success. Target: p95(ours) <= 1.5 x p95(bare).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from common import (
    LOGS,
    RASA_BIN,
    RASA_PY,
    RESULTS,
    ROOT,
    base_env,
    busy_processes,
    machine,
    now_iso,
    percentile,
    run_measured,
    tail,
    warn_if_busy,
    write_json,
)

# The e2e harness's process handling: free ports, own process groups, health polling.
from tests.e2e.conftest import TEMPLATE_ACTION_URL, _free_port, _start, _stop, _wait_healthy

BARE = ROOT / "benchmarks" / "bare_bot"
TARGET_RATIO = 1.5
# check_balance phrasings (no account named, so our bot lists every account: the biggest read).
MESSAGES = ("what's my balance", "how much money do I have", "check my balance", "show my balance",
            "balance please", "can you tell me my balance")


# --- the bare bot ------------------------------------------------------------------------------------------

def _pipeline_of(path: Path) -> tuple[Any, Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data.get("language"), data.get("pipeline"), data.get("policies")


def check_bare_config(sync: bool) -> dict[str, Any]:
    """The bare bot must use exactly our NLU pipeline; ``sync`` rewrites its config.yml from ours."""
    ours, bare = ROOT / "config.yml", BARE / "config.yml"
    if sync:
        text = ours.read_text(encoding="utf-8")
        header = bare.read_text(encoding="utf-8").split("pipeline:", 1)[0]
        bare.write_text(header + text[text.index("pipeline:"):], encoding="utf-8")
        print(f"synced {bare.relative_to(ROOT)} from config.yml")
    o_lang, o_pipe, o_pol = _pipeline_of(ours)
    b_lang, b_pipe, b_pol = _pipeline_of(bare)
    if (o_lang, o_pipe) != (b_lang, b_pipe):
        raise SystemExit(
            f"ERROR: {bare.relative_to(ROOT)} does not have config.yml's NLU pipeline, so the comparison would not "
            "isolate the custom actions. Run `.venv/bin/python benchmarks/chat_latency.py --sync-bare-config` "
            "(copies pipeline and policies) and commit it."
        )
    return {"same_pipeline": True, "same_policies": o_pol == b_pol}


def nlu_files() -> list[Path]:
    """The YAML files under data/ that hold NLU data (what both bots learn intents from)."""
    found = []
    for path in sorted((ROOT / "data").rglob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(doc, dict) and doc.get("nlu"):
            if doc.get("rules") or doc.get("stories"):
                raise SystemExit(f"ERROR: {path} mixes NLU data with rules/stories; the bare bot cannot take it alone")
            found.append(path)
    if not found:
        raise SystemExit("ERROR: no NLU data under data/")
    return found


ENTITY_PATTERNS = (re.compile(r"\[[^\]]*\]\((\w+)"), re.compile(r"\[[^\]]*\]\{\s*\"entity\"\s*:\s*\"(\w+)\""))


def bare_domain(tmp: Path, files: list[Path]) -> Path:
    """benchmarks/bare_bot/domain.yml plus a generated file naming every intent and entity of the NLU data."""
    own = yaml.safe_load((BARE / "domain.yml").read_text(encoding="utf-8"))
    intents: list[str] = []
    entities: list[str] = []
    for path in files:
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            if "intent" in item:
                name = str(item["intent"]).split("/")[0]
                if name not in intents:
                    intents.append(name)
                for pattern in ENTITY_PATTERNS:
                    for entity in pattern.findall(str(item.get("examples", ""))):
                        if entity not in entities:
                            entities.append(entity)
            for key in ("lookup", "regex"):
                if key in item and str(item[key]) not in entities:
                    entities.append(str(item[key]))
    folder = tmp / "bare_domain"
    folder.mkdir()
    shutil.copy(BARE / "domain.yml", folder / "domain.yml")
    generated = {
        "version": "3.1",
        "intents": [i for i in intents if i not in own.get("intents", [])],
        "entities": entities,
    }
    (folder / "nlu_names.yml").write_text(
        "# generated by benchmarks/chat_latency.py from the NLU data files\n" + yaml.safe_dump(generated, sort_keys=False),
        encoding="utf-8",
    )
    return folder


# --- load --------------------------------------------------------------------------------------------------

@dataclass
class Bot:
    name: str
    url: str
    pids: list[int]
    check: Callable[[list[dict[str, Any]]], bool]
    client: httpx.AsyncClient | None = None
    errors: list[str] = field(default_factory=list)
    wrong_replies: int = 0
    rounds: list[dict[str, Any]] = field(default_factory=list)  # per round: figures, for the JSON
    raw: list[dict[str, Any]] = field(default_factory=list)  # per round: latencies, CPU seconds, errors


def _proc_tree_cpu(root_pid: int) -> float:
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


async def _turn(bot: Bot, sender: str, text: str, token: str) -> tuple[float, str | None, bool]:
    """One message; (latency ms, error or None, reply as expected)."""
    assert bot.client is not None
    payload = {"sender": sender, "message": text, "metadata": {"token": token}}
    t0 = time.perf_counter()
    try:
        response = await bot.client.post(f"{bot.url}/webhooks/rest/webhook", json=payload)
        ms = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            return ms, f"HTTP {response.status_code}", False
        return ms, None, bot.check(response.json())
    except (httpx.HTTPError, ValueError) as exc:
        return (time.perf_counter() - t0) * 1000, f"{type(exc).__name__}: {exc}"[:200], False


async def _conversation(bot: Bot, sender: str, token: str, turns: int, record: bool, out: list[float]) -> None:
    for i in range(turns):
        ms, error, ok = await _turn(bot, sender, MESSAGES[i % len(MESSAGES)], token)
        if not record:
            continue
        if error:
            bot.errors.append(error)
        elif not ok:
            bot.wrong_replies += 1
        else:
            out.append(ms)


def _machine_busy_cpu() -> float:
    """CPU seconds all processes on the machine have used (busy jiffies of /proc/stat's total line)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def run_round(bot: Bot, tokens: list[str], turns: int, label: str, record: bool = True) -> dict[str, Any]:
    """``len(tokens)`` concurrent conversations of ``turns`` turns each on one bot."""
    round_lat: list[float] = []
    errors0, wrong0 = len(bot.errors), bot.wrong_replies
    cpu0 = {str(pid): _proc_tree_cpu(pid) for pid in bot.pids}
    cpu0["client"] = time.process_time()
    machine0 = _machine_busy_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(
        _conversation(bot, f"bench-{bot.name}-{label}-{i}-{uuid.uuid4().hex[:6]}", token, turns, record, round_lat)
        for i, token in enumerate(tokens)
    ))
    wall = time.perf_counter() - t0
    if not record:
        return {}
    cpu = {pid: (time.process_time() if pid == "client" else _proc_tree_cpu(int(pid))) - before
           for pid, before in cpu0.items()}
    # CPU used meanwhile by everything else on the machine (other servers idle; other people's jobs), in cores
    other_cores = max(_machine_busy_cpu() - machine0 - sum(cpu.values()), 0.0) / wall
    bot.raw.append({"latencies_ms": round_lat, "wall_s": wall, "cpu_s": cpu,
                    "errors": bot.errors[errors0:], "wrong_replies": bot.wrong_replies - wrong0})
    stats = {
        "round": label, "turns": len(round_lat), "errors": len(bot.errors) - errors0,
        "wrong_replies": bot.wrong_replies - wrong0, "wall_s": round(wall, 3),
        "throughput_tps": round(len(round_lat) / wall, 2),
        "p50_ms": round(percentile(round_lat, 50), 1), "p95_ms": round(percentile(round_lat, 95), 1),
        "other_processes_cores": round(other_cores, 2),
    }
    bot.rounds.append(stats)
    return stats


def summary(bot: Bot, names: dict[str, str], use: list[int]) -> dict[str, Any]:
    """Figures over the rounds ``use`` (indices) of one bot."""
    raw = [bot.raw[i] for i in use]
    lat = [ms for r in raw for ms in r["latencies_ms"]]
    errors = [e for r in raw for e in r["errors"]]
    wrong = sum(r["wrong_replies"] for r in raw)
    wall = sum(r["wall_s"] for r in raw)
    cpu: dict[str, float] = {}
    for r in raw:
        for pid, seconds in r["cpu_s"].items():
            cpu[pid] = cpu.get(pid, 0.0) + seconds
    n = len(lat)
    return {
        "rounds_used": [bot.rounds[i]["round"] for i in use],
        "turns": n,
        "attempted": n + len(errors) + wrong,
        "errors": len(errors),
        "wrong_replies": wrong,
        "error_examples": sorted(set(errors))[:5],
        "p50_ms": round(percentile(lat, 50), 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "mean_ms": round(sum(lat) / n, 1) if n else None,
        "max_ms": round(max(lat), 1) if n else None,
        "throughput_tps": round(n / wall, 2) if wall else None,
        "busy_s": round(wall, 2),
        "other_processes_cores_max": max((bot.rounds[i]["other_processes_cores"] for i in use), default=None),
        "cpu_ms_per_turn": {names[pid]: round(1000 * s / n, 2) for pid, s in cpu.items()} if n else {},
    }


# --- profile -----------------------------------------------------------------------------------------------

def _median_ms(samples: list[float]) -> float | None:
    return round(percentile(samples, 50), 2) if samples else None


async def _timed(client: httpx.AsyncClient, method: str, url: str, repeats: int, **kwargs: Any) -> list[float]:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = await client.request(method, url, **kwargs)
        if r.status_code == 200:
            samples.append((time.perf_counter() - t0) * 1000)
    return samples


def _turn_shape(tracker: dict[str, Any], custom: set[str]) -> dict[str, Any]:
    """Actions the bot ran after the last user message: policy predictions and custom-action calls (and their names) per turn."""
    events = tracker.get("events", [])
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    actions = [e.get("name") for e in events[last_user + 1:] if e.get("event") == "action"]
    called = [a for a in actions if a in custom]
    return {"predictions": len(actions), "custom_action_calls": len(called), "custom_actions": called}


async def profile(bots: list[Bot], models: dict[str, Path], action_url: str, rasa_token: str, token: str,
                  tmp: Path, repeats: int, action_token: str = "") -> dict[str, Any]:
    """Where an unloaded turn's time goes, our bot against the bare one (one conversation at a time)."""
    out: dict[str, Any] = {"repeats": repeats}
    by_name = {b.name: b for b in bots}
    ours, bare = by_name["ours"], by_name["bare"]
    assert all(b.client is not None for b in bots)
    # 1. Unloaded turns, one conversation per bot, bots alternating; the first turn (session start, offer) not timed.
    senders = {b.name: f"bench-profile-{b.name}-{uuid.uuid4().hex[:6]}" for b in bots}
    unloaded: dict[str, list[float]] = {b.name: [] for b in bots}
    for i in range(repeats + 1):
        for b in bots:
            ms, error, ok = await _turn(b, senders[b.name], MESSAGES[i % len(MESSAGES)], token)
            if i and not error and ok:
                unloaded[b.name].append(ms)
    out["unloaded_turn_ms"] = {k: _median_ms(v) for k, v in unloaded.items()}
    # 2. HTTP round trip of a trivial request and NLU parse alone (HTTP API); the policy predictions of one turn
    #    (timed with Rasa's classes on the conversation's tracker).
    http: dict[str, Any] = {}
    parse: dict[str, Any] = {}
    predict: dict[str, Any] = {}
    shape: dict[str, Any] = {}
    domain = (await ours.client.get(f"{ours.url}/domain", params={"token": rasa_token},  # type: ignore[union-attr]
                                    headers={"Accept": "application/json"})).json()
    custom = {a for a in domain.get("actions", []) if not a.startswith("utter_")}
    for b in (ours, bare):
        assert b.client is not None
        auth = {"token": rasa_token}
        http[b.name] = _median_ms(await _timed(b.client, "GET", f"{b.url}/version", repeats))
        parse[b.name] = _median_ms(await _timed(b.client, "POST", f"{b.url}/model/parse", repeats, params=auth,
                                                json={"text": MESSAGES[0]}))
        tracker = (await b.client.get(f"{b.url}/conversations/{senders[b.name]}/tracker",
                                      params={**auth, "include_events": "ALL"})).json()
        shape[b.name] = _turn_shape(tracker, custom)
        tracker_path = tmp / f"tracker_{b.name}.json"
        tracker_path.write_text(json.dumps(tracker))
        predict[b.name] = _rasa_snippet(RASA_PREDICT_SNIPPET, models[b.name], tracker_path, repeats)
    out["http_round_trip_ms"], out["nlu_parse_ms"], out["policy_predictions"] = http, parse, predict
    out["per_turn"] = shape
    # 3. The action server alone: replay the request Rasa sends for each action (tracker with every event + domain).
    tracker = (await ours.client.get(f"{ours.url}/conversations/{senders['ours']}/tracker",  # type: ignore[union-attr]
                                     params={"token": rasa_token, "include_events": "ALL"})).json()
    version = (await ours.client.get(f"{ours.url}/version")).json().get("version", "")  # type: ignore[union-attr]
    actions: dict[str, Any] = {}
    responses: list[Any] = []
    async with httpx.AsyncClient(timeout=60) as client:
        # the custom actions of the profiled turn (a balance turn after the session's first: no suggestion due)
        for name in shape["ours"].get("custom_actions") or ["action_show_balance"]:
            raw = json.dumps({"next_action": name, "sender_id": senders["ours"], "tracker": tracker, "domain": domain,
                              "version": version}).encode()
            # the action server answers only callers with its secret (actions/server.py), as Rasa sends it
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {action_token}"}
            samples = await _timed(client, "POST", f"{action_url}/webhook", repeats, content=raw, headers=headers)
            responses.append((await client.post(f"{action_url}/webhook", content=raw, headers=headers)).json())
            actions[name] = {"ms": _median_ms(samples), "request_kb": round(len(raw) / 1024, 1)}
    out["action_server_ms"] = actions
    out["domain_kb"] = round(len(json.dumps(domain).encode()) / 1024, 1)
    out["tracker_events"] = len(tracker.get("events", []))
    # 4. Rasa's own per-call work around an action, timed with Rasa's classes in its environment.
    payload_path = tmp / "action_call.json"
    payload_path.write_text(json.dumps({"sender_id": senders["ours"], "tracker": tracker, "responses": responses}))
    out["rasa_per_action_call_ms"] = _rasa_snippet(RASA_PER_CALL_SNIPPET, ROOT / "domain.yml", payload_path, repeats)
    return out


RASA_PER_CALL_SNIPPET = r"""
import importlib, json, sys, time
import yaml
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
stock = RemoteAction._validate_action_result
# Import the custom components config.yml names, as loading our model does (they may patch Rasa).
for item in yaml.safe_load(open("config.yml"))["pipeline"]:
    if "." in item["name"]:
        importlib.import_module(item["name"].rsplit(".", 1)[0])
installed = RemoteAction._validate_action_result
domain = Domain.load(sys.argv[1])
data = json.load(open(sys.argv[2]))
repeats = int(sys.argv[3])
tracker = DialogueStateTracker.from_dict(data["sender_id"], data["tracker"]["events"], domain.slots)
action = RemoteAction.__new__(RemoteAction)
responses = data["responses"]
def median(f):
    s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        s.append((time.perf_counter() - t0) * 1000)
    return round(sorted(s)[len(s) // 2], 3)
print(json.dumps({
    "build_request": median(lambda: json.dumps({"tracker": tracker.current_state(EventVerbosity.ALL),
                                                 "domain": domain.as_dict()})),
    "validate_response": median(lambda: [installed(action, r) for r in responses]) / len(responses),
    "validate_response_stock": median(lambda: [stock(action, r) for r in responses]) / len(responses),
    "validation_patched": installed is not stock,
}))
"""


RASA_PREDICT_SNIPPET = r"""
import json, logging, sys, time
logging.disable(logging.WARNING)
from rasa.core.agent import Agent
from rasa.shared.core.trackers import DialogueStateTracker
agent = Agent.load(sys.argv[1])
data = json.load(open(sys.argv[2]))
repeats = int(sys.argv[3])
processor, domain = agent.processor, agent.domain
events = data["events"]
last_user = max(i for i, e in enumerate(events) if e.get("event") == "user")
steps = [j for j in range(last_user + 1, len(events)) if events[j].get("event") == "action"]
per_step, predicted = [], []
for j in steps:
    samples = []
    for _ in range(repeats):
        tracker = DialogueStateTracker.from_dict(data["sender_id"], events[:j], domain.slots)
        t0 = time.perf_counter()
        prediction = processor._predict_next_with_tracker(tracker)
        samples.append((time.perf_counter() - t0) * 1000)
    per_step.append(round(sorted(samples)[len(samples) // 2], 3))
    predicted.append(domain.action_names_or_texts[prediction.max_confidence_index])
print(json.dumps({"per_turn_ms": round(sum(per_step), 3), "per_step_ms": per_step, "predicted": predicted}))
"""


def _rasa_snippet(code: str, first: Path, second: Path, repeats: int) -> dict[str, Any]:
    """Run a timing snippet with Rasa's own classes in the Rasa environment; its last output line is JSON."""
    try:
        done = subprocess.run([str(RASA_PY), "-c", code, str(first), str(second), str(repeats)],
                              capture_output=True, text=True, timeout=600, env=base_env(), cwd=ROOT)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            return {"error": f"exit {done.returncode}: {done.stderr.strip()[-500:]}"}
        result: dict[str, Any] = json.loads(lines[-1])
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def breakdown(prof: dict[str, Any]) -> dict[str, Any]:
    """Split the unloaded extra time of our turn (ours - bare) into measured parts; the rest is 'other'."""
    try:
        unl, shape = prof["unloaded_turn_ms"], prof["per_turn"]
        per_call = prof["rasa_per_action_call_ms"]
        calls = shape["ours"]["custom_action_calls"]
        pred = prof["policy_predictions"]
        parts = {
            "response_validation": calls * per_call["validate_response"],
            "action_server_round_trips": sum(a["ms"] for a in prof["action_server_ms"].values()),
            "request_building": calls * per_call["build_request"],
            "policy_predictions": pred["ours"]["per_turn_ms"] - pred["bare"]["per_turn_ms"],
        }
    except (KeyError, TypeError):
        return {}
    extra = unl["ours"] - unl["bare"]
    parts["other"] = extra - sum(parts.values())
    return {"extra_ms": round(extra, 2), "parts_ms": {k: round(v, 2) for k, v in parts.items()}}


def rule_counts(files: list[Path]) -> int:
    """Number of rules in YAML training files."""
    total = 0
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(doc, dict):
            total += len(doc.get("rules") or [])
    return total


# --- main --------------------------------------------------------------------------------------------------

def _model_of_ours() -> Path:
    default = ROOT / "models" / "nova.tar.gz"
    if default.exists():
        return default
    archives = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not archives:
        raise SystemExit("ERROR: no trained model in models/: run `make train` first")
    return archives[-1]


def _healthy(name: str, url: str, proc: subprocess.Popen[bytes], log: Path, ok: Callable[[Any], bool]) -> float:
    try:
        return _wait_healthy(name, url, proc, log, ok)
    except BaseException as exc:  # the harness fails with pytest's Failed outcome (not an Exception)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise RuntimeError(str(exc)) from None


async def load_test(bots: list[Bot], tokens: list[str], args: argparse.Namespace, deadline: float) -> list[str]:
    notes: list[str] = []
    limits = httpx.Limits(max_connections=len(tokens) + 4, max_keepalive_connections=len(tokens) + 4)
    for b in bots:
        b.client = httpx.AsyncClient(timeout=httpx.Timeout(120.0), limits=limits)
    try:
        for b in bots:
            t0 = time.perf_counter()
            await run_round(b, tokens, args.warmup_turns, "warmup", record=False)
            print(f"    warm-up {b.name}: {len(tokens)} x {args.warmup_turns} turns in {time.perf_counter() - t0:.1f} s")
        for r in range(args.rounds):
            for b in bots:
                s = await run_round(b, tokens, args.turns, f"r{r + 1}")
                print(f"    round {r + 1} {b.name:13s}: {s['turns']} turns, p50 {s['p50_ms']:7.1f} ms, "
                      f"p95 {s['p95_ms']:7.1f} ms, {s['throughput_tps']:6.1f} turns/s, errors {s['errors']}, "
                      f"wrong {s['wrong_replies']}, others used {s['other_processes_cores']:.2f} cores")
            busy = busy_processes()
            if busy:
                notes.append(f"other heavy jobs running after round {r + 1}: " + "; ".join(b[:100] for b in busy[:3]))
                print(f"    WARNING: {notes[-1]}")
            if time.monotonic() > deadline and r + 1 < args.rounds:
                notes.append(f"stopped after {r + 1} of {args.rounds} rounds: time budget reached")
                print(f"    {notes[-1]}")
                break
    finally:
        for b in bots:
            if b.client is not None:
                await b.client.aclose()
                b.client = None
    return notes


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _paired(a: Bot, b: Bot, use: list[int]) -> dict[str, float]:
    ratios = sorted(a.rounds[i]["p95_ms"] / b.rounds[i]["p95_ms"] for i in use if b.rounds[i]["p95_ms"])
    if not ratios:
        return {}
    return {"min": round(ratios[0], 3), "median": round(percentile(ratios, 50), 3), "max": round(ratios[-1], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=20, help="concurrent conversations per round")
    parser.add_argument("--turns", type=int, default=10, help="balance questions per conversation")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per bot (alternating ours, bare, ...)")
    parser.add_argument("--warmup-turns", type=int, default=3)
    parser.add_argument("--seed-limit", type=int, default=200, help="customers imported into the temporary CRM")
    parser.add_argument("--profile-repeats", type=int, default=30)
    parser.add_argument("--no-experiment", action="store_true",
                        help="leave out the third bot (ours with Rasa's stock action-response validation)")
    parser.add_argument("--max-other-cores", type=float, default=0.25,
                        help="a round set during which other processes used more CPU than this (in cores) is left "
                             "out of the figures, if at least half the sets stay")
    parser.add_argument("--budget-s", type=float, default=540, help="stop starting rounds after this many seconds")
    parser.add_argument("--sync-bare-config", action="store_true",
                        help="copy config.yml's pipeline and policies into benchmarks/bare_bot/config.yml first")
    parser.add_argument("--bare-model", type=Path,
                        help="use this trained bare model instead of training one (for developing this script)")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary folder (database, bare model)")
    parser.add_argument("--out", type=Path, default=RESULTS / "chat_latency.json")
    args = parser.parse_args(argv)

    t_start = time.monotonic()
    deadline = t_start + args.budget_s
    started = now_iso()
    config_check = check_bare_config(args.sync_bare_config)
    model = _model_of_ours()
    busy = warn_if_busy()
    tmp = Path(tempfile.mkdtemp(prefix="nova-bench-chat-"))
    jwt_secret = secrets.token_hex(32)
    rasa_token = secrets.token_hex(16)
    database_url = f"sqlite:///{tmp / 'crm.db'}"
    # ACTION_SERVER_TOKEN: bot/endpoints.yml sends it, actions/server.py accepts only calls that carry it
    # CHAT_CUSTOMER_RATE_LIMIT: 20 conversations of 5 demo customers send far more than the shipped 60 turns a
    # minute per customer; the limiter's polite refusal would be counted as a wrong reply (this measures turns).
    env = base_env(DATABASE_URL=database_url, JWT_SECRET=jwt_secret, ACTION_SERVER_TOKEN=secrets.token_hex(16),
                   CHAT_CUSTOMER_RATE_LIMIT="1000000/minute")
    setup: dict[str, Any] = {}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        # CRM
        print(f"==> seeding a SQLite CRM with {args.seed_limit} customers")
        seeded = run_measured([sys.executable, "-m", "profiles.seed", "--limit", str(args.seed_limit), "--quiet"],
                              LOGS / "chat_seed.log", env=env)
        if seeded.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{tail(seeded.log)}")
        setup["seed_s"] = round(seeded.wall_s, 1)

        # bare bot
        files = nlu_files()
        (tmp / "bare").mkdir()
        domain_dir = bare_domain(tmp, files)
        cmd = [str(RASA_BIN), "train", "--config", str(BARE / "config.yml"), "--domain", str(domain_dir),
               "--data", *[str(f) for f in files], str(BARE / "data"), "--out", str(tmp / "bare"),
               "--fixed-model-name", "bare"]
        if args.bare_model:
            shutil.copy(args.bare_model, tmp / "bare" / "bare.tar.gz")
            setup["bare_model"] = f"given: {args.bare_model}"
        else:
            print(f"==> training the bare bot (NLU data: {', '.join(str(f.relative_to(ROOT)) for f in files)})")
            trained = run_measured(cmd, LOGS / "chat_bare_train.log",
                                   env=base_env(RASA_CACHE_DIRECTORY=str(tmp / "cache")))
            if trained.returncode != 0:
                raise RuntimeError(f"training the bare bot failed:\n{tail(trained.log)}")
            setup["bare_train_s"] = round(trained.wall_s, 1)
            print(f"    trained in {trained.wall_s:.1f} s")

        # servers, all at once: our action server, our Rasa, the bare Rasa (and the experiment's Rasa)
        action_port = _free_port()
        ports = {"ours": _free_port(), "bare": _free_port(), "ours_stock": _free_port()}
        endpoints = tmp / "endpoints.yml"
        # The real event broker stays on (its cost is part of ours), into a file of the run's own: the demo
        # database's feed must not pick up benchmark conversations.
        endpoints.write_text((ROOT / "bot" / "endpoints.yml").read_text()
                             .replace(TEMPLATE_ACTION_URL, f"http://127.0.0.1:{action_port}/webhook")
                             .replace("db: var/events.db", f"db: {tmp / 'events.db'}"))

        def rasa_cmd(prefix: list[str], model_path: Path, endpoints_path: Path, port: int) -> list[str]:
            return [*prefix, "run", "--enable-api", "--auth-token", rasa_token, "-m", str(model_path),
                    "--endpoints", str(endpoints_path), "--credentials", str(ROOT / "bot" / "credentials.yml"),
                    "-i", "127.0.0.1", "-p", str(port)]

        commands = {
            "actions": [sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(action_port)],
            "ours": rasa_cmd([str(RASA_BIN)], model, endpoints, ports["ours"]),
            "bare": rasa_cmd([str(RASA_BIN)], tmp / "bare" / "bare.tar.gz", BARE / "endpoints.yml", ports["bare"]),
        }
        if not args.no_experiment and (ROOT / "bot" / "response_validation.py").exists():
            commands["ours_stock"] = rasa_cmd([str(RASA_PY), str(ROOT / "benchmarks" / "rasa_stock_validation.py")],
                                              model, endpoints, ports["ours_stock"])
        logs = {name: LOGS / f"chat_{name}.log" for name in commands}
        print(f"==> starting {', '.join(commands)} (our model: {model.relative_to(ROOT)})")
        t0 = time.monotonic()
        for name, command in commands.items():
            # rasa_sdk listens on 0.0.0.0 unless SANIC_HOST says otherwise: loopback only, like the Rasa servers
            procs[name] = _start(command, logs[name], {**env, "SANIC_HOST": "127.0.0.1"} if name == "actions" else env)
        action_url = f"http://127.0.0.1:{action_port}"
        _healthy("action server", f"{action_url}/health", procs["actions"], logs["actions"],
                 lambda r: r.json().get("status") == "ok")
        for name in commands:
            if name != "actions":
                _healthy(f"Rasa server ({name})", f"http://127.0.0.1:{ports[name]}/status?token={rasa_token}",
                         procs[name], logs[name], lambda r: bool(r.json().get("model_file")))
        setup["servers_start_s"] = round(time.monotonic() - t0, 1)
        print(f"    all healthy after {setup['servers_start_s']} s")

        # tokens with the servers' secret for the demo customers, one per conversation
        os.environ["JWT_SECRET"] = jwt_secret
        os.environ["DATABASE_URL"] = database_url
        from profiles.demo import DEMO_CUSTOMERS
        from profiles.identity import issue_token
        from profiles.settings import get_settings

        get_settings.cache_clear()
        customers = [DEMO_CUSTOMERS[i % len(DEMO_CUSTOMERS)] for i in range(args.conversations)]
        tokens = [issue_token(cid, ttl_minutes=180) for cid in customers]

        static = yaml.safe_load((BARE / "domain.yml").read_text())["responses"]["utter_balance"][0]["text"]

        def shows_money(replies: list[dict[str, Any]]) -> bool:
            return any("€" in (r.get("text") or "") for r in replies)

        bots = [
            Bot("ours", f"http://127.0.0.1:{ports['ours']}", [procs["ours"].pid, procs["actions"].pid], shows_money),
            Bot("bare", f"http://127.0.0.1:{ports['bare']}", [procs["bare"].pid],
                lambda replies: any(r.get("text") == static for r in replies)),
        ]
        if "ours_stock" in procs:
            bots.append(Bot("ours_stock", f"http://127.0.0.1:{ports['ours_stock']}",
                            [procs["ours_stock"].pid, procs["actions"].pid], shows_money))
        names = {str(procs[n].pid): ("action_server" if n == "actions" else "rasa") for n in procs}
        names["client"] = "load_generator"

        print(f"==> load: {args.conversations} concurrent conversations x {args.turns} turns per round, "
              f"{args.rounds} rounds per bot, alternating {' / '.join(b.name for b in bots)}")
        notes = asyncio.run(load_test(bots, tokens, args, deadline))

        print(f"==> profile ({args.profile_repeats} repeats per measurement)")

        async def _profile() -> dict[str, Any]:
            for b in bots:
                b.client = httpx.AsyncClient(timeout=60)
            try:
                return await profile(bots, {"ours": model, "bare": tmp / "bare" / "bare.tar.gz"}, action_url,
                                     rasa_token, tokens[0], tmp, args.profile_repeats, env["ACTION_SERVER_TOKEN"])
            finally:
                for b in bots:
                    if b.client is not None:
                        await b.client.aclose()

        prof = asyncio.run(_profile())
        prof["breakdown"] = breakdown(prof)
        prof["rules"] = {"ours": rule_counts(sorted((ROOT / "data").rglob("*.y*ml"))),
                         "bare": rule_counts(sorted((BARE / "data").rglob("*.y*ml")))}
    finally:
        for proc in reversed(procs.values()):
            _stop(proc)
        if args.keep_tmp:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    by_name = {b.name: b for b in bots}
    # Rounds come in sets (ours, bare, experiment). A set during which other processes used more than
    # --max-other-cores is kept in the JSON but left out of the figures, as long as half the sets stay clean.
    n_sets = min(len(b.rounds) for b in bots)
    clean = [k for k in range(n_sets) if all(b.rounds[k]["other_processes_cores"] <= args.max_other_cores for b in bots)]
    use = clean if 2 * len(clean) >= n_sets else list(range(n_sets))
    excluded = [k + 1 for k in range(n_sets) if k not in use]
    if excluded:
        notes.append(f"round sets {excluded} left out of the figures: other processes used more than "
                     f"{args.max_other_cores} cores meanwhile")
    elif len(clean) < n_sets:
        notes.append(f"only {len(clean)} of {n_sets} round sets were quiet (other processes <= "
                     f"{args.max_other_cores} cores): figures over all of them, noisy")
    summaries = {b.name: summary(b, names, use) for b in bots}
    s_ours, s_bare = summaries["ours"], summaries["bare"]
    ratio = _ratio(s_ours["p95_ms"], s_bare["p95_ms"])
    met = ratio is not None and ratio <= TARGET_RATIO and not s_ours["errors"] and not s_ours["wrong_replies"]
    report: dict[str, Any] = {
        "benchmark": "chat_latency",
        "started": started,
        "finished": now_iso(),
        "machine": machine(),
        "busy_at_start": busy,
        "parameters": {
            "conversations": args.conversations, "turns_per_conversation": args.turns, "rounds_per_bot": args.rounds,
            "warmup_turns": args.warmup_turns, "seed_limit": args.seed_limit, "customers": sorted(set(customers)),
            "messages": list(MESSAGES), "model": str(model.relative_to(ROOT)), "tracker_store": "in-memory",
            "database": "SQLite (temporary file)", "experiment": "ours_stock" in summaries,
        },
        "bare_config": config_check,
        "setup": setup,
        "ours": s_ours,
        "bare": s_bare,
        "p95_ratio": ratio,
        "p95_ratio_per_round": _paired(by_name["ours"], by_name["bare"], use),
        "round_sets": {"run": n_sets, "used": len(use), "quiet": len(clean), "max_other_cores": args.max_other_cores},
        "rounds": {b.name: b.rounds for b in bots},
        "p50_ratio": _ratio(s_ours["p50_ms"], s_bare["p50_ms"]),
        "target_ratio": TARGET_RATIO,
        "met_target": met,
        "profile": prof,
        "notes": notes,
        "total_s": round(time.monotonic() - t_start, 1),
    }
    if "ours_stock" in summaries:
        s_exp = summaries["ours_stock"]
        report["experiment_ours_stock_validation"] = s_exp | {
            "p95_ratio_to_bare": _ratio(s_exp["p95_ms"], s_bare["p95_ms"]),
            "p95_ratio_to_bare_per_round": _paired(by_name["ours_stock"], by_name["bare"], use),
        }
    print()
    print(f"{'bot':14s} {'turns':>6s} {'errors':>6s} {'wrong':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
          f"{'turns/s':>8s}  CPU ms per turn")
    for name, s in summaries.items():
        print(f"{name:14s} {s['turns']:6d} {s['errors']:6d} {s['wrong_replies']:6d} {s['p50_ms']:8.1f} "
              f"{s['p95_ms']:8.1f} {s['p99_ms']:8.1f} {s['throughput_tps'] or 0:8.1f}  {s['cpu_ms_per_turn']}")
    print(f"p95 ours/bare = {ratio} (target <= {TARGET_RATIO}: {'met' if met else 'MISSED'}); "
          f"per round {report['p95_ratio_per_round']}")
    if "experiment_ours_stock_validation" in report:
        print(f"experiment: p95 ours with Rasa's stock response validation / bare = "
              f"{report['experiment_ours_stock_validation']['p95_ratio_to_bare']}")
    print(f"profile: {json.dumps(prof, indent=1)}")
    print(f"whole run {report['total_s']} s")
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
