"""Run every benchmark and write the figures into README.md (what `make bench` does).

    .venv/bin/python benchmarks/run_all.py [--no-readme] [--only chat_latency[,...]]

1. benchmarks/train_time.py   -> results/bench/train_time.json
2. make eval-nlu              -> results/nlu_eval.json   (bot/evaluate_nlu.py on tests/data/banking77_heldout.csv)
3. benchmarks/chat_latency.py -> results/bench/chat_latency.json

then results/bench/summary.json and the README section between ``<!-- bench:start -->`` and
``<!-- bench:end -->`` (under "## Benchmarks", added at the end if missing). Every figure comes from the files
this run wrote; a step that fails stops the run and leaves README.md untouched. ``--only`` runs the named steps
and takes the others' results from the last results/bench/summary.json; the section then says which steps were
taken from which earlier run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT, busy_processes, load_average, machine, now_iso, write_json

README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
HEADING = "## Benchmarks"
NLU_JSON = ROOT / "results" / "nlu_eval.json"
NLU_DATA = "tests/data/banking77_heldout.csv"

STEPS: list[tuple[str, list[str], Path]] = [
    ("train_time", [sys.executable, "benchmarks/train_time.py"], RESULTS / "train_time.json"),
    ("nlu_eval", ["make", "--no-print-directory", "eval-nlu"], NLU_JSON),
    # --sync-bare-config: the bare bot follows config.yml's pipeline (a changed benchmarks/bare_bot/config.yml
    # shows up in `git status`, to be committed with the new figures).
    ("chat_latency", [sys.executable, "benchmarks/chat_latency.py", "--sync-bare-config"], RESULTS / "chat_latency.json"),
]


def run_steps(only: set[str] | None = None) -> dict[str, Any]:
    """Run the benchmark steps (all, or ``only`` these; the others' results from the last summary.json, each
    marked ``reused_from`` with that run's start time).

    Raises:
        SystemExit: a step failed or wrote no result, or a reused step has no earlier result.
    """
    results: dict[str, Any] = {}
    earlier: dict[str, Any] = {}
    if only is not None:
        try:
            earlier = json.loads((RESULTS / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SystemExit("ERROR: --only needs an earlier results/bench/summary.json (run `make bench` once)") from exc
    for name, cmd, out in STEPS:
        if only is not None and name not in only:
            if name not in earlier.get("steps", {}):
                raise SystemExit(f"ERROR: no earlier result for {name} in results/bench/summary.json")
            step = earlier["steps"][name]
            results[name] = {**step, "reused_from": step.get("reused_from") or earlier.get("started")}
            continue
        print(f"\n######## {name}: {' '.join(cmd)}", flush=True)
        busy = busy_processes()
        load = load_average()
        t0 = time.time()
        done = subprocess.run(cmd, cwd=ROOT)
        wall = time.time() - t0
        if done.returncode != 0:
            raise SystemExit(f"ERROR: {name} failed (exit {done.returncode}); README.md not updated")
        if not out.exists() or out.stat().st_mtime < t0:
            raise SystemExit(f"ERROR: {name} did not write {out}; README.md not updated")
        data = json.loads(out.read_text(encoding="utf-8"))
        results[name] = {"wall_s": round(wall, 1), "busy_at_start": busy, "load_average_at_start": load, "data": data}
        print(f"######## {name}: done in {wall:.0f} s", flush=True)
    return results


def _s(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else (f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms")


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _modified_text(modified: list[str]) -> str:
    if not modified:
        return "."
    shown = ", ".join(f"`{m}`" for m in modified[:6])
    more = f" and {len(modified) - 6} more files" if len(modified) > 6 else ""
    return f" plus uncommitted changes (in the working tree at the time) to {shown}{more}."


def _reused_text(results: dict[str, Any]) -> str:
    reused = [f"{name} from the run of {r['reused_from'].replace('T', ' ').replace('+00:00', ' UTC')}"
              for name, r in results.items() if r.get("reused_from")]
    return f" Taken from an earlier run (`--only`): {'; '.join(reused)}." if reused else ""


def _rounds_used(rs: dict[str, Any]) -> str:
    if rs["used"] == rs["run"] and rs["quiet"] == rs["run"]:
        return ""
    if rs["used"] < rs["run"]:
        return (f"; the figures count the {rs['used']} round sets during which other processes on the machine used "
                f"at most {rs['max_other_cores']} of a core (the other {rs['run'] - rs['used']} are in the JSON)")
    return f"; only {rs['quiet']} of {rs['run']} round sets were free of other processes' load: noisy figures"


def _other_cores(chat: dict[str, Any]) -> float:
    keys = ("ours", "bare", "experiment_ours_stock_validation")
    return max((chat[k].get("other_processes_cores_max") or 0.0 for k in keys if k in chat), default=0.0)


def _busy_text(results: dict[str, Any]) -> str:
    busy = sorted({b.split(" ", 1)[1][:70] for r in results.values() for b in r["busy_at_start"]})
    return "none" if not busy else "; ".join(f"`{b}`" for b in busy[:3])


def render(results: dict[str, Any], mach: dict[str, Any]) -> str:
    tt = results["train_time"]["data"]
    nlu = results["nlu_eval"]["data"]
    chat = results["chat_latency"]["data"]
    full, parts = tt["trainings"]["full"], tt["trainings"]
    ours, bare, par, prof = chat["ours"], chat["bare"], chat["parameters"], chat["profile"]
    load = results["train_time"]["load_average_at_start"]
    rs = chat["round_sets"]
    lines = [
        START,
        "<!-- Generated by benchmarks/run_all.py (`make bench`) from the results of one run; do not edit by hand. -->",
        "",
        f"Measured by `make bench` on {mach['date'].replace('T', ' ').replace('+00:00', ' UTC')} at commit "
        f"`{mach['git_commit']}`"
        + _modified_text(mach.get("git_modified") or []) + _reused_text(results),
        "",
        f"**Machine:** {mach['nproc']} CPU cores ({mach['cpu_model']}), {mach['ram_gib']} GiB RAM, {mach['os']}; "
        f"Python {mach['python_app']} with rasa-sdk {mach['rasa_sdk']} (actions), Python {mach['python_rasa']} with "
        f"Rasa {mach['rasa']} (server). Load average when the run started: {load[0] if load else 'n/a'}; other heavy "
        f"jobs (tests, trainings) seen at the start of a step: {_busy_text(results)}"
        + f"; during the chat rounds counted, other processes used at most {_other_cores(chat):.2f} of a core.",
        "",
        "| what | figure | target |",
        "|---|---|---|",
        f"| training from scratch, whole model (`rasa train --force`) | {_s(full['wall_s'])} wall, "
        f"{_s(full['cpu_s'])} CPU, peak RSS {full['peak_rss_mb']:.0f} MB | ≤ 600 s: {_met(tt['met_target'])} |",
    ]
    if "nlu" in parts and "core" in parts:
        lines.append(
            f"| … NLU alone (`rasa train nlu`) / dialogue alone (`rasa train core`) | {_s(parts['nlu']['wall_s'])} "
            f"(peak {parts['nlu']['peak_rss_mb']:.0f} MB) / {_s(parts['core']['wall_s'])} "
            f"(peak {parts['core']['peak_rss_mb']:.0f} MB); separate processes, each with Rasa's start-up | |"
        )
    lines += [
        f"| NLU on the BANKING77 held-out 10% (`{NLU_DATA}`, n = {nlu['n']}, {nlu['n_labels']} intents; never "
        f"trained on) | accuracy {nlu['accuracy']:.3f}, macro-F1 {nlu['macro_f1']:.3f}, fallback "
        f"{100 * nlu['fallback_rate']:.1f}% (a fallback counts as wrong; ignoring fallback: accuracy "
        f"{nlu['accuracy_ignoring_fallback']:.3f}) | reported |",
        f"| chat turn p95, ours ÷ bare Rasa bot, {par['conversations']} concurrent conversations | "
        f"{chat['p95_ratio']:.2f}× ({_ms(ours['p95_ms'])} vs {_ms(bare['p95_ms'])}; p95 ratio within each round "
        f"{chat['p95_ratio_per_round'].get('min', float('nan')):.2f}–{chat['p95_ratio_per_round'].get('max', float('nan')):.2f}×) "
        f"| ≤ 1.5×: {_met(chat['met_target'])} |",
        "",
        f"Chat turns over the REST channel (`/webhooks/rest/webhook`): {par['conversations']} concurrent "
        f"conversations, each a verified demo customer (signed token in the metadata) asking for the balance "
        f"{par['turns_per_conversation']} times, the next message sent when the reply arrived (every round starts "
        f"new conversations, so 1 turn in {par['turns_per_conversation']} opens a session, all at once, and on ours "
        "may bring the session's one product suggestion); "
        f"{rs['run']} rounds per bot after a warm-up, alternating "
        f"{'ours, bare and the experiment' if chat.get('experiment_ours_stock_validation') else 'ours and bare'} "
        f"while all servers run{_rounds_used(rs)}. "
        f"In-memory tracker store; CRM in a SQLite file seeded with {par['seed_limit']} customers. Every reply "
        "checked (ours shows a euro amount, bare its static text).",
        "",
        "| bot | turns | errors / wrong replies | p50 | p95 | p99 | throughput | CPU per turn |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [("ours: `action_show_balance` (token check, DB read, suggestion gate; `action_offer_product` when due)", ours),
            ("bare: static `utter_` response, no action server", bare)]
    exp = chat.get("experiment_ours_stock_validation")
    if exp:
        rows.append(("experiment: ours with Rasa 3.6's stock validation of action responses "
                     f"(`bot/response_validation.py` switched off; p95 {exp['p95_ratio_to_bare']:.2f}× bare)", exp))
    for label, s in rows:
        cpu = ", ".join(f"{k.replace('_', ' ')} {v:.1f} ms" for k, v in s["cpu_ms_per_turn"].items())
        lines.append(f"| {label} | {s['turns']} | {s['errors']} / {s['wrong_replies']} | {_ms(s['p50_ms'])} | "
                     f"{_ms(s['p95_ms'])} | {_ms(s['p99_ms'])} | {s['throughput_tps']:.1f} turns/s | {cpu} |")
    lines += ["", *profile_lines(prof, ours, bare, par["conversations"], exp), ""]
    lines += [
        "Reproduce (each script prints its figures and writes JSON into `results/bench/`):",
        "",
        "```bash",
        "make bench                                       # all three, then rewrites this section",
        ".venv/bin/python benchmarks/train_time.py        # -> results/bench/train_time.json",
    ]
    for part in ("full", "nlu", "core"):
        if part in parts:
            lines.append(f"#   {parts[part]['command']}")
    lines += [
        "make eval-nlu                                    # -> results/nlu_eval.json",
        f"#   .venv-rasa/bin/python bot/evaluate_nlu.py --model models --data {NLU_DATA} --out results/nlu_eval.json",
        f".venv/bin/python benchmarks/chat_latency.py --conversations {par['conversations']} "
        f"--turns {par['turns_per_conversation']} --rounds {par['rounds_per_bot']} --seed-limit {par['seed_limit']} "
        "--sync-bare-config   # -> results/bench/chat_latency.json",
        "```",
        END,
    ]
    return "\n".join(lines)


def profile_lines(prof: dict[str, Any], ours: dict[str, Any], bare: dict[str, Any], conversations: int,
                  exp: dict[str, Any] | None) -> list[str]:
    """Where our turn's extra time goes, from the profile measured in the same run."""
    out: list[str] = []
    oc, bc = ours["cpu_ms_per_turn"], bare["cpu_ms_per_turn"]
    if oc and bc:
        out.append(
            f"**Where the time goes.** Under load, per turn, our Rasa process used {oc.get('rasa', 0):.1f} ms of CPU "
            f"(our action server {oc.get('action_server', 0):.1f} ms more, on the other core) against "
            f"{bc.get('rasa', 0):.1f} ms for the bare Rasa process. Rasa handles every conversation on one event "
            f"loop, so with {conversations} concurrent conversations a turn mostly waits for the other conversations' CPU work: the p95 "
            "ratio follows the ratio of Rasa CPU per turn."
        )
    bd, unl = prof.get("breakdown") or {}, prof.get("unloaded_turn_ms") or {}
    per_call, pred = prof.get("rasa_per_action_call_ms") or {}, prof.get("policy_predictions") or {}
    shape, rules = prof.get("per_turn") or {}, prof.get("rules") or {}
    if bd and unl and "error" not in per_call:
        parts = bd["parts_ms"]
        calls = shape.get("ours", {}).get("custom_action_calls")
        actions = prof["action_server_ms"]
        trips = ", ".join(f"`{name}` {a['ms']:.1f} ms" for name, a in actions.items())
        request_kb = next(iter(actions.values()))["request_kb"]
        out += [
            "",
            f"One conversation at a time (medians of {prof['repeats']}), a turn takes {_ms(unl.get('ours'))} on ours "
            f"and {_ms(unl.get('bare'))} on the bare bot; the {_ms(bd['extra_ms'])} more are:",
            "",
            "| part of our extra time per turn | ms | measured as |",
            "|---|---|---|",
            f"| Rasa validating the action server's responses | {parts['response_validation']:.1f} | {calls} × "
            f"{per_call['validate_response']:.2f} ms ("
            + ("with `bot/response_validation.py`; stock `jsonschema.validate`: "
               if per_call.get("validation_patched") else "stock `jsonschema.validate`; ")
            + f"{per_call['validate_response_stock']:.1f} ms each) |",
            f"| dialogue policies | {parts['policy_predictions']:.1f} | {shape['ours']['predictions']} predictions "
            f"over {rules.get('ours')} rules ({pred['ours']['per_turn_ms']:.1f} ms) vs {shape['bare']['predictions']} "
            f"over {rules.get('bare')} ({pred['bare']['per_turn_ms']:.1f} ms) |",
            f"| action server round trips | {parts['action_server_round_trips']:.1f} | replaying Rasa's requests "
            f"({trips}; each request {request_kb:.0f} kB, of which the domain "
            f"{prof['domain_kb']:.0f} kB) |",
            f"| Rasa building the action requests | {parts['request_building']:.1f} | tracker state + domain as JSON |",
            f"| other | {parts['other']:.1f} | the rest: a longer tracker to fetch from and save to the tracker "
            "store and to featurize, more events to apply, Rasa's HTTP client |",
        ]
        named = {"response_validation": "Rasa's validation of the action responses",
                 "policy_predictions": "the dialogue policies", "action_server_round_trips": "the action server",
                 "request_building": "building the action requests", "other": "the rest"}
        top = max(parts, key=lambda k: parts[k])
        out += ["", f"The largest part is {named[top]} ({parts[top]:.0f} of {bd['extra_ms']:.0f} ms)."]
        if exp and unl.get("ours_stock"):
            out[-1] += (
                f" With Rasa's stock response validation (the experiment row: same bot and action server, "
                f"`bot/response_validation.py` switched off by `benchmarks/rasa_stock_validation.py`) a turn takes "
                f"{_ms(unl['ours_stock'])} unloaded and {exp['cpu_ms_per_turn'].get('rasa', 0):.1f} ms of Rasa CPU "
                f"under load: p95 {exp['p95_ratio_to_bare']:.2f}× the bare bot's."
            )
        out[-1] += (f" Meeting 1.5× needs our Rasa CPU per turn within about 1.5 × {bc.get('rasa', 0):.1f} = "
                    f"{1.5 * bc.get('rasa', 0):.1f} ms (now {oc.get('rasa', 0):.1f} ms).")
    return out


def update_readme(section: str) -> None:
    text = README.read_text(encoding="utf-8")
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        new = before + section + after
    else:
        new = text.rstrip("\n") + f"\n\n{HEADING}\n\n{section}\n"
    README.write_text(new, encoding="utf-8")
    print(f"updated the benchmark section of {README.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-readme", action="store_true", help="run and write results/bench/, leave README.md")
    steps = ", ".join(name for name, _, _ in STEPS)
    parser.add_argument("--only", default="", help=f"comma-separated steps to run ({steps}); the others are "
                        "taken from the last summary.json")
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()} or None
    unknown = (only or set()) - {name for name, _, _ in STEPS}
    if unknown:
        parser.error(f"unknown step(s): {', '.join(sorted(unknown))}")
    started = now_iso()
    t0 = time.time()
    results = run_steps(only)
    mach = machine()
    section = render(results, mach)
    write_json(RESULTS / "summary.json", {"started": started, "finished": now_iso(), "wall_s": round(time.time() - t0),
                                          "machine": mach, "steps": results})
    print("\n" + section)
    if not args.no_readme:
        update_readme(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
