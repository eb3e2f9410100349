"""Benchmark: replay the SGD Banks_1 dialogues against Nova, user turn by user turn, as a verified customer.

    .venv/bin/python benchmarks/dialogues.py [--limit N] [--data PATH] [--out results/dialogues.json]
                                             [--no-readme] [--show-failures 20]

The dialogues are the Schema-Guided Dialogue data set's Banks_1 service (Rastogi et al. 2020, CC BY-SA 4.0),
read from ``DATA_DIR/sgd_banks/train_banks_dialogues.json`` (``profiles.settings``: ``../shared/data``);
nothing of it is copied into the repository. Every dialogue checks one or more balances and makes one
transfer to a named person.

Set-up (the benchmark's own SQLite CRM in a temporary folder, seeded with ``profiles.seed``): one seeded
customer per dialogue, with exactly one current account ("checking" in SGD) and one savings account, balances
set to fixed distinct figures, and as payees exactly the eight SGD recipients (Amir, Srinivas, Pranav, Maria,
Xiaoxue, Abhinav, Raghav, Sanuj: ``PAYEES``) with made-up IBANs (their seeded payees are removed, so a name
can never be ambiguous). SGD's ``recipient_account_type`` (the recipient's checking or savings) has no
counterpart: a payee is one IBAN. Then our action server and our Rasa server (``models/``) on free loopback
ports, started like ``benchmarks/chat_latency.py`` does.

The simulated customer (the policy, so the numbers can be read):

- SGD's user turns are sent in order over REST with a signed token of the customer in the metadata. The data
  is in dollars, our bank in euros: ``$``, "dollars" and "bucks" are rewritten to ``€`` / "euros" (Nova
  refuses foreign currencies on purpose). Nothing else of the text is changed, except:
- a turn accepting an offer only the SGD system made ("Would you like to make a transfer?" - "Yes, from my
  checking account", act AFFIRM_INTENT) loses its leading yes and gets "I'd like to make a transfer." before it;
- when Nova asks a transfer question (its form's ``requested_slot``) and the next SGD user turn states no
  Banks_1 value (nor, at Nova's read-back, a yes/no), the customer first answers from the dialogue's own
  values (the transfer SGD executed): "€1630", "to Amir", "from my checking account"; a read-back is
  answered "yes" when it states those values, else "no, that's wrong" (counted as extra turns). A turn that
  states values is sent as is, asked or not (Nova should take what it is given). No extra answers once a
  transfer was made, or after SGD's own transfer turn (a customer does not fill in a transfer they declined).

Scored per dialogue (read from Nova's replies, its tracker over Rasa's HTTP API and the database):

- balance: for every balance SGD looked up, Nova's replies to that request (the turns since SGD's previous
  look-up) show the figure the database holds for that account at that moment;
- transfer understood: the transfer form is active after the first user turn asking for a transfer;
- slots on first mention: every amount, recipient and source account the user stated while transferring is
  in Nova's slots right after that turn (a value Nova asked for again counts as missed);
- transfer completed: exactly one transfer in the database, with SGD's amount, to the payee of SGD's
  recipient, from the account of SGD's ``account_type``; a transfer with another amount is a *wrong amount*
  (target: none);
- turns sent (SGD's plus the extra answers) and fallbacks (Nova's ``utter_fallback``).

The table is printed, written to ``results/dialogues.json`` and into README.md between
``<!-- dialogues:start -->`` and ``<!-- dialogues:end -->``. Targets: >= 90% of transfers completed, >= 95%
of balance dialogues, 0 wrong amounts.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from common import LOGS, RASA_BIN, ROOT, base_env, machine, now_iso, run_measured, tail, write_json

from tests.e2e.conftest import TEMPLATE_ACTION_URL, _free_port, _start, _stop

README = ROOT / "README.md"
START, END = "<!-- dialogues:start -->", "<!-- dialogues:end -->"
PAYEES = ("Amir", "Srinivas", "Pranav", "Maria", "Xiaoxue", "Abhinav", "Raghav", "Sanuj")
KIND = {"checking": "current", "savings": "savings"}
BALANCES = {"current": Decimal("12345.67"), "savings": Decimal("23456.78")}
TARGETS = {"transfer_completed_pct": 90.0, "balance_completed_pct": 95.0, "wrong_amounts": 0}
MAX_EXTRA_PER_TURN = 4
FALLBACK_ACTIONS = {"utter_fallback", "action_default_fallback"}


# --- the data --------------------------------------------------------------------------------------------

def euros(text: str) -> str:
    """SGD's dollars as our bank's euros: "$1,630" -> "€1,630", "980 bucks" -> "980 euros"."""
    text = re.sub(r"\$\s*", "€", text)
    text = re.sub(r"(€[\d.,]+)\s+(?:dollars?|bucks?)\b", r"\1", text, flags=re.IGNORECASE)
    return re.sub(r"\b(?:dollars?|bucks?|usd)\b", "euros", text, flags=re.IGNORECASE)


def _acts(turn: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for f in turn["frames"] for a in f["actions"]]


def _informed(turn: dict[str, Any]) -> dict[str, str]:
    """The SGD slots a user turn INFORMs, canonical values (amount "1630", account_type "checking")."""
    out = {}
    for a in _acts(turn):
        if a["act"] == "INFORM" and a["slot"] and (a["canonical_values"] or a["values"]):
            out[a["slot"]] = (a["canonical_values"] or a["values"])[0]
    return out


@dataclass
class Expected:
    """The transfer SGD executed and the balances it looked up (by the index of the triggering user turn)."""

    amount: Decimal
    recipient: str
    source_kind: str
    balance_checks: dict[int, str]  # user turn index -> account kind
    transfer_turns: list[int]  # user turn indices while TransferMoney was the active intent
    executed_after: int  # the user turn after which SGD made the transfer


def expected_of(dialogue: dict[str, Any]) -> Expected:
    users: list[int] = []
    checks: dict[int, str] = {}
    transfer: dict[str, str] | None = None
    transfer_turns: list[int] = []
    for turn in dialogue["turns"]:
        if turn["speaker"] == "USER":
            users.append(len(users))
            state = turn["frames"][0].get("state", {})
            if state.get("active_intent") == "TransferMoney" and transfer is None:
                transfer_turns.append(users[-1])
            continue
        for frame in turn["frames"]:
            call = frame.get("service_call") or {}
            if call.get("method") == "CheckBalance":
                checks[users[-1]] = KIND[call["parameters"]["account_type"]]
            elif call.get("method") == "TransferMoney":
                transfer = call["parameters"]
                executed_after = users[-1]
    if transfer is None:
        raise ValueError(f"dialogue {dialogue['dialogue_id']} makes no transfer")
    recipient = next(p for p in PAYEES if p.lower() == transfer["recipient_account_name"].lower())
    return Expected(Decimal(transfer["amount"]), recipient, KIND[transfer["account_type"]], checks, transfer_turns,
                    executed_after)


# --- the database ----------------------------------------------------------------------------------------

def prepare_customer(customer_id: int) -> dict[str, int]:
    """One current and one savings account with fixed balances, the SGD payees only; returns ids by name."""
    from sqlalchemy import delete, select

    from profiles.db import session_scope
    from profiles.models import Account, Payee

    with session_scope(write=True) as session:
        accounts = session.scalars(select(Account).where(Account.customer_id == customer_id)).all()
        ids: dict[str, int] = {}
        for kind, balance in BALANCES.items():
            mine = [a for a in accounts if a.kind == kind]
            for extra in mine[1:]:
                session.delete(extra)
            if not mine:
                mine = [Account(customer_id=customer_id, kind=kind, name="Savings account",
                                number=f"PT50099900{customer_id:09d}{len(kind):04d}")]
                session.add(mine[0])
            mine[0].balance = balance
            session.flush()
            ids[kind] = mine[0].id
        session.execute(delete(Payee).where(Payee.customer_id == customer_id))
        for i, name in enumerate(PAYEES):
            payee = Payee(customer_id=customer_id, name=name, iban=f"PT50003300{customer_id:07d}{i:04d}0000")
            session.add(payee)
            session.flush()
            ids[name] = payee.id
    return ids


def balances(customer_id: int) -> dict[str, Decimal]:
    from profiles import list_accounts

    return {a.kind: a.balance for a in list_accounts(customer_id) if a.kind in BALANCES}


def transfers_of(customer_id: int) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from profiles.db import session_scope
    from profiles.models import Transfer

    with session_scope() as session:
        rows = session.scalars(select(Transfer).where(Transfer.customer_id == customer_id)).all()
        return [{"amount": r.amount, "from": r.from_account_id, "to_payee": r.to_payee_id,
                 "to_account": r.to_account_id} for r in rows]


# --- the replay ------------------------------------------------------------------------------------------

@dataclass
class Result:
    dialogue_id: str
    balance_checks: int = 0
    balances_shown: int = 0
    transfer_understood: bool = False
    slots_stated: int = 0
    slots_captured: int = 0
    transfer_completed: bool = False
    wrong_amount: bool = False
    turns_sent: int = 0
    extra_turns: int = 0
    fallbacks: int = 0
    problems: list[str] = field(default_factory=list)
    transcript: list[list[str]] = field(default_factory=list)

    @property
    def balance_ok(self) -> bool:
        return self.balance_checks == self.balances_shown


class Replay:
    """One conversation with Nova over REST and Rasa's HTTP API."""

    def __init__(self, client: httpx.Client, rasa_url: str, rasa_token: str, token: str, result: Result) -> None:
        self.client, self.url, self.rasa_token, self.token = client, rasa_url, rasa_token, token
        self.sender = f"bench-sgd-{uuid.uuid4().hex[:10]}"
        self.result = result

    def send(self, text: str, extra: bool = False) -> list[str]:
        response = self.client.post(f"{self.url}/webhooks/rest/webhook",
                                    json={"sender": self.sender, "message": text, "metadata": {"token": self.token}})
        response.raise_for_status()
        replies = [r.get("text") or "" for r in response.json()]
        self.result.turns_sent += 1
        self.result.extra_turns += extra
        self.result.transcript.append([("+ " if extra else "") + text, *replies])
        tracker = self.tracker()
        events = tracker.get("events", [])
        last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
        self.result.fallbacks += sum(1 for e in events[last_user + 1:]
                                     if e.get("event") == "action" and e.get("name") in FALLBACK_ACTIONS)
        return replies

    def tracker(self) -> dict[str, Any]:
        response = self.client.get(f"{self.url}/conversations/{self.sender}/tracker",
                                   params={"token": self.rasa_token})
        response.raise_for_status()
        self._tracker: dict[str, Any] = response.json()
        return self._tracker

    def asking(self) -> str | None:
        """The transfer form's question now open, or ``None``."""
        t = self._tracker
        if (t.get("active_loop") or {}).get("name") != "transfer_form":
            return None
        return t.get("slots", {}).get("requested_slot")


GIVES = {"amount": "amount", "to_account": "recipient_account_name", "from_account": "account_type"}


def _answer(slot: str, exp: Expected, ids: dict[str, int], replies: list[str]) -> str:
    if slot == "amount":
        return f"€{exp.amount}"
    if slot == "to_account":
        return f"to {exp.recipient}"
    if slot == "from_account":
        return f"from my {'checking' if exp.source_kind == 'current' else 'savings'} account"
    readback = " ".join(replies[-1:]).replace(",", "")
    amount_ok = re.search(rf"€{exp.amount:.2f}\b", readback) is not None
    source_word = "Current" if exp.source_kind == "current" else "Savings"
    ok = amount_ok and exp.recipient in readback and source_word.lower() in readback.lower()
    return "yes" if ok else "no, that's wrong"


def _next_gives(turn: dict[str, Any], slot: str) -> bool:
    """Whether the SGD turn answers Nova's open question itself: it states any Banks_1 value (Nova should take
    what it is given, asked or not), or it is a yes/no and Nova reads the transfer back."""
    if _informed(turn):
        return True
    return slot == "transfer_confirmed" and any(a["act"] in ("AFFIRM", "NEGATE") for a in _acts(turn))


def _captured(slots: dict[str, Any], informed: dict[str, str], ids: dict[str, int]) -> tuple[int, int, list[str]]:
    stated = captured = 0
    missed = []
    for sgd, mine in (("amount", "amount"), ("recipient_account_name", "to_account"), ("account_type", "from_account")):
        if sgd not in informed:
            continue
        stated += 1
        value = informed[sgd]
        if sgd == "amount":
            want = value
            ok = slots.get(mine) is not None and Decimal(str(slots[mine])) == Decimal(value)
        elif sgd == "recipient_account_name":
            name = next((p for p in PAYEES if p.lower() == value.lower()), value)
            want = f"payee:{ids.get(name)}"
            ok = slots.get(mine) == want
        else:
            want = str(ids[KIND[value]])
            ok = str(slots.get(mine)) == want
        captured += ok
        if not ok:
            missed.append(f"{sgd}={value} (slot {mine}={slots.get(mine)!r})")
    return stated, captured, missed


def replay(dialogue: dict[str, Any], customer_id: int, client: httpx.Client, rasa_url: str, rasa_token: str) -> Result:
    from actions.parsing import money
    from profiles.identity import issue_token

    exp = expected_of(dialogue)
    ids = prepare_customer(customer_id)
    result = Result(dialogue["dialogue_id"], balance_checks=len(exp.balance_checks))
    bot = Replay(client, rasa_url, rasa_token, issue_token(customer_id, ttl_minutes=120), result)
    users = [t for t in dialogue["turns"] if t["speaker"] == "USER"]
    bot.tracker()
    window: list[str] = []  # Nova's replies since the last balance look-up SGD made
    for index, turn in enumerate(users):
        # Nova's open question that this SGD turn does not answer: the customer answers it first.
        replies: list[str] = []
        # only for the transfer SGD's user wants, before SGD made it, and while none was made
        wants = index <= exp.executed_after and not transfers_of(customer_id)
        for _ in range(MAX_EXTRA_PER_TURN if wants else 0):
            slot = bot.asking()
            if slot is None or _next_gives(turn, slot):
                break
            last = bot._tracker.get("events", [])
            replies_so_far = [e.get("text") or "" for e in last if e.get("event") == "bot"][-1:]
            replies += bot.send(_answer(slot, exp, ids, replies_so_far), extra=True)
        text = euros(turn["utterance"])
        if any(a["act"] == "AFFIRM_INTENT" for a in _acts(turn)):
            rest = re.sub(r"^\s*(yes|yeah|yep|sure|ok(ay)?)\b[\s,.!]*(please\b[\s,.!]*)?", "", text, flags=re.I)
            text = "I'd like to make a transfer." + (f" {rest}" if rest else "")
        replies += bot.send(text)
        window += replies
        if index in exp.balance_checks:
            # shown in answer to this request: at this turn or since the previous look-up ("what's my balance?"
            # lists every account; SGD asks "checking or savings?" first)
            figure = money(balances(customer_id)[exp.balance_checks[index]])
            if any(figure in r for r in window):
                result.balances_shown += 1
            else:
                result.problems.append(f"turn {index}: balance {figure} ({exp.balance_checks[index]}) not shown")
            window = []
        if index in exp.transfer_turns:
            if index == exp.transfer_turns[0]:
                result.transfer_understood = bot.asking() is not None or bool(transfers_of(customer_id))
            stated, captured, missed = _captured(bot._tracker.get("slots", {}), _informed(turn), ids)
            if bot.asking() is None and transfers_of(customer_id):
                captured = stated  # the turn completed the transfer: checked against the database below
            result.slots_stated += stated
            result.slots_captured += captured
            result.problems += [f"turn {index}: not captured {m}" for m in missed]
        # after SGD's last transfer turn, a read-back still open gets its answer
    for _ in range(0 if transfers_of(customer_id) else MAX_EXTRA_PER_TURN):
        slot = bot.asking()
        if slot is None:
            break
        events = bot._tracker.get("events", [])
        bot.send(_answer(slot, exp, ids, [e.get("text") or "" for e in events if e.get("event") == "bot"][-1:]),
                 extra=True)
    made = transfers_of(customer_id)
    right = [t for t in made if t["amount"] == exp.amount and t["to_payee"] == ids[exp.recipient]
             and t["from"] == ids[exp.source_kind]]
    result.transfer_completed = len(made) == 1 and len(right) == 1
    result.wrong_amount = any(t["amount"] != exp.amount for t in made)
    if not result.transfer_completed:
        result.problems.append(f"transfers made {[{k: str(v) for k, v in t.items()} for t in made]}, expected "
                               f"{exp.amount} to {exp.recipient} from {exp.source_kind}")
    return result


# --- report ----------------------------------------------------------------------------------------------

def _pct(n: int, d: int) -> float:
    return round(100 * n / d, 1) if d else 0.0


def summarise(results: list[Result]) -> dict[str, Any]:
    n = len(results)
    balance_dialogues = [r for r in results if r.balance_checks]
    s = {
        "dialogues": n,
        "balance_completed_pct": _pct(sum(r.balance_ok for r in balance_dialogues), len(balance_dialogues)),
        "balance_checks_shown": f"{sum(r.balances_shown for r in results)}/{sum(r.balance_checks for r in results)}",
        "transfer_understood_pct": _pct(sum(r.transfer_understood for r in results), n),
        "slots_first_mention_pct": _pct(sum(r.slots_captured for r in results), sum(r.slots_stated for r in results)),
        "dialogues_all_slots_pct": _pct(sum(r.slots_captured == r.slots_stated for r in results), n),
        "transfer_completed_pct": _pct(sum(r.transfer_completed for r in results), n),
        "wrong_amounts": sum(r.wrong_amount for r in results),
        "turns_sent_mean": round(sum(r.turns_sent for r in results) / n, 2) if n else 0,
        "extra_turns_mean": round(sum(r.extra_turns for r in results) / n, 2) if n else 0,
        "fallbacks": sum(r.fallbacks for r in results),
        "dialogues_with_fallback": sum(bool(r.fallbacks) for r in results),
    }
    s["targets_met"] = (s["transfer_completed_pct"] >= TARGETS["transfer_completed_pct"]
                        and s["balance_completed_pct"] >= TARGETS["balance_completed_pct"]
                        and s["wrong_amounts"] <= TARGETS["wrong_amounts"])
    return s


ROWS = (
    ("balance dialogues completed (every balance shown with the DB figure)", "balance_completed_pct", "%", ">= 95%"),
    ("balance look-ups answered", "balance_checks_shown", "", ""),
    ("transfer understood (form active after the first transfer turn)", "transfer_understood_pct", "%", ""),
    ("slots captured on first mention", "slots_first_mention_pct", "%", ""),
    ("dialogues with every slot captured on first mention", "dialogues_all_slots_pct", "%", ""),
    ("transfers completed (one transfer, SGD's amount, payee and source, in the DB)", "transfer_completed_pct", "%", ">= 90%"),
    ("wrong amounts executed", "wrong_amounts", "", "0"),
    ("turns sent per dialogue (mean)", "turns_sent_mean", "", ""),
    ("extra answers per dialogue (Nova asked what SGD's user had not said then)", "extra_turns_mean", "", ""),
    ("fallbacks (dialogues with one)", "fallbacks", "", ""),
)


def table(s: dict[str, Any]) -> str:
    lines = ["| measure | value | target |", "|---|---|---|"]
    for label, key, unit, target in ROWS:
        value = f"{s[key]}{unit}"
        if key == "fallbacks":
            value = f"{s['fallbacks']} ({s['dialogues_with_fallback']})"
        lines.append(f"| {label} | {value} | {target} |")
    return "\n".join(lines)


def write_readme(s: dict[str, Any], meta: dict[str, Any]) -> None:
    body = (
        f"{START}\n"
        f"SGD Banks_1 training dialogues replayed over REST ({s['dialogues']} dialogues, "
        f"`make bench-dialogues`, {meta['date']}, commit {meta['git_commit']}; details in results/dialogues.json):\n\n"
        f"{table(s)}\n{END}"
    )
    text = README.read_text(encoding="utf-8")
    if START in text and END in text:
        text = text[:text.index(START)] + body + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## Dialogue benchmark\n\n" + body + "\n"
    README.write_text(text, encoding="utf-8")
    print(f"updated the dialogue section of {README.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="the SGD Banks_1 dialogues (default DATA_DIR/sgd_banks/...)")
    parser.add_argument("--limit", type=int, help="replay only the first N dialogues")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "dialogues.json")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--show-failures", type=int, default=10, help="print this many failed transcripts")
    args = parser.parse_args(argv)

    from profiles.settings import get_settings

    path = args.data or get_settings().data_dir / "sgd_banks" / "train_banks_dialogues.json"
    dialogues = json.loads(path.read_text(encoding="utf-8"))[: args.limit]
    tmp = Path(tempfile.mkdtemp(prefix="nova-bench-dialogues-"))
    jwt_secret, rasa_token = secrets.token_hex(32), secrets.token_hex(16)
    database_url = f"sqlite:///{tmp / 'crm.db'}"
    # ACTION_SERVER_TOKEN: bot/endpoints.yml sends it, actions/server.py accepts only calls that carry it
    env = base_env(DATABASE_URL=database_url, JWT_SECRET=jwt_secret, ACTION_SERVER_TOKEN=secrets.token_hex(16))
    procs: list[subprocess.Popen[bytes]] = []
    started = now_iso()
    try:
        print(f"==> seeding a SQLite CRM with {len(dialogues)} customers")
        seeded = run_measured([sys.executable, "-m", "profiles.seed", "--limit", str(len(dialogues) + 5), "--quiet"],
                              LOGS / "dialogues_seed.log", env=env)
        if seeded.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{tail(seeded.log)}")
        action_port, rasa_port = _free_port(), _free_port()
        endpoints = tmp / "endpoints.yml"
        endpoints.write_text((ROOT / "bot" / "endpoints.yml").read_text()
                             .replace(TEMPLATE_ACTION_URL, f"http://127.0.0.1:{action_port}/webhook")
                             .replace("db: var/events.db", f"db: {tmp / 'events.db'}"))
        logs = {"actions": LOGS / "dialogues_actions.log", "rasa": LOGS / "dialogues_rasa.log"}
        procs.append(_start([sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(action_port)],
                            logs["actions"], {**env, "SANIC_HOST": "127.0.0.1"}))
        procs.append(_start([str(RASA_BIN), "run", "--enable-api", "--auth-token", rasa_token, "-m",
                             str(ROOT / "models"), "--endpoints", str(endpoints), "--credentials",
                             str(ROOT / "bot" / "credentials.yml"), "-i", "127.0.0.1", "-p", str(rasa_port)],
                            logs["rasa"], env))
        rasa_url = f"http://127.0.0.1:{rasa_port}"
        _healthy(f"http://127.0.0.1:{action_port}/health", procs[0], logs["actions"])
        _healthy(f"{rasa_url}/status?token={rasa_token}", procs[1], logs["rasa"])

        import os

        os.environ.update(JWT_SECRET=jwt_secret, DATABASE_URL=database_url)
        get_settings.cache_clear()
        from profiles.db import reset_engine

        reset_engine()
        results: list[Result] = []
        t0 = time.monotonic()
        with httpx.Client(timeout=120) as client:
            for i, dialogue in enumerate(dialogues):
                results.append(replay(dialogue, i + 1, client, rasa_url, rasa_token))
                if (i + 1) % 20 == 0:
                    print(f"    {i + 1}/{len(dialogues)} dialogues ({time.monotonic() - t0:.0f} s)")
    finally:
        for proc in reversed(procs):
            _stop(proc)

    s = summarise(results)
    print(table(s))
    failed = [r for r in results if not (r.transfer_completed and r.balance_ok)]
    for r in failed[: args.show_failures]:
        print(f"\n--- {r.dialogue_id}: " + "; ".join(r.problems))
        for user, *bot in r.transcript:
            print(f"  U: {user}")
            for line in bot:
                print("     N: " + line.replace("\n", " / ")[:200])
    meta = machine()
    write_json(args.out, {
        "benchmark": "dialogues", "started": started, "data": str(path), "machine": meta, "summary": s,
        "targets": TARGETS, "payees": PAYEES, "balances": {k: str(v) for k, v in BALANCES.items()},
        "dialogues": [{**asdict(r), "balance_ok": r.balance_ok} for r in results],
    })
    if not args.no_readme and args.limit is None:
        write_readme(s, meta)
    return 0


def _healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 300) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode}):\n{tail(log)}")
        try:
            if httpx.get(url, timeout=5).status_code == 200 and (("status" not in url) or
                                                                 httpx.get(url, timeout=5).json().get("model_file")):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy after {timeout_s:.0f} s:\n{tail(log)}")


if __name__ == "__main__":
    sys.exit(main())
