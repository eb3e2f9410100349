"""NLU annotation (profiles.nlu_annotation) on both backends, over events stored by the real feed code: the inbox
(low confidence or marked wrong, de-duplicated, masked, never an erased customer's), decisions (domain intents,
entities, audited) and the export into a reviewed training file that Rasa reads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select

from profiles.conversations import conversation_ref
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotFound
from profiles.models import AuditLog, ConversationEvent, NluAnnotation
from profiles.nlu_annotation import (
    accuracy_history,
    decide,
    domain_intents,
    export_reviewed,
    flag_wrong,
    list_decisions,
    list_inbox,
    normalise,
)
from profiles.privacy import erase_customer
from profiles.sealing import seal_owner
from tests.profiles.conftest import build_customer
from tests.profiles.test_conversation_console import T0, _action, _slot, _store, _user

ROOT = Path(__file__).resolve().parents[2]


def _event_id(sender: str, text: str) -> int:
    with session_scope() as s:
        found = s.scalar(select(ConversationEvent.id).where(ConversationEvent.sender_id == sender,
                                                            ConversationEvent.text == text))
    assert found is not None
    return int(found)


@pytest.fixture
def messages(db: Engine) -> dict[str, int]:
    """Low-confidence messages (one typed twice in two conversations, one with an e-mail, one of a linked
    customer), a confident one and a button payload."""
    built = build_customer()
    _store([
        _user("a", T0, "my card got eaten by the machine", "card_arrival", 0.31),
        _user("b", T0 + 10, "My card got  EATEN by the machine", "card_arrival", 0.28),
        _user("b", T0 + 20, "what is my balance", "check_balance", 0.97),
        _user("c", T0 + 30, "send the statement to ana.silva@example.com", "nlu_fallback", 0.22),
        _user("c", T0 + 40, "/rate{\"csat\": 4}", "rate", 0.1),
        _user("d", T0 + 50, "bloody fees again at the cash machine", "nlu_fallback", 0.25),
        _action("d", T0 + 51, "action_verify_customer"),
        _slot("d", T0 + 52, "owner", seal_owner("d", built.customer_id)),
    ])
    return {"customer_id": built.customer_id,
            "eaten_a": _event_id("a", "my card got eaten by the machine"),
            "eaten_b": _event_id("b", "My card got  EATEN by the machine"),
            "balance": _event_id("b", "what is my balance"),
            "email": _event_id("c", "send the statement to ana.silva@example.com"),
            "fees": _event_id("d", "bloody fees again at the cash machine")}


def test_inbox_lists_low_confidence_messages_once_per_text_masked_newest_first(messages: dict[str, int]) -> None:
    items = list_inbox(0.5)
    assert [i.event_id for i in items] == [messages["fees"], messages["email"], messages["eaten_b"]]
    eaten = items[2]
    assert eaten.duplicates == 2 and eaten.intent == "card_arrival" and eaten.confidence == pytest.approx(0.28)
    assert eaten.ref == conversation_ref("b")
    assert items[1].text == "send the statement to a••••@example.com"  # the transcript's masking rule
    assert all("/rate" not in i.text for i in items)  # button payloads are not language
    assert list_inbox(0.3)[-1].event_id == messages["eaten_b"]  # 0.28 < 0.3; the 0.31 duplicate still counted
    with pytest.raises(InvalidInput):
        list_inbox(1.5)


def test_preselected_entities_are_the_words_typed_so_confirming_a_row_as_shown_works(db: Engine) -> None:
    # "checking" is the synonym current_account: the model's value is not a part of the message, and saving the
    # row as the page preselects it was refused ("The value of account_type must be a part of the message").
    _store([_user("s", T0, "checking pls thing", "inform", 0.47,
                  entities=[{"entity": "account_type", "value": "current_account", "start": 0, "end": 8}])])
    (item,) = list_inbox(0.5)
    assert item.entities == (("account_type", "checking"),)
    decided = decide(item.event_id, "inform", item.entities, staff="ana")
    assert decided.status == "confirmed" and decided.entities == [{"entity": "account_type", "value": "checking"}]


def test_a_confident_message_marked_wrong_enters_the_inbox_and_is_audited(messages: dict[str, int]) -> None:
    assert messages["balance"] not in [i.event_id for i in list_inbox()]
    flag_wrong(messages["balance"], staff="ana", ref=conversation_ref("b"))
    flag_wrong(messages["balance"], staff="rui")  # idempotent: the first reviewer stays
    item = next(i for i in list_inbox() if i.event_id == messages["balance"])
    assert item.flagged_by == "ana"
    with pytest.raises(NotFound):
        flag_wrong(messages["balance"], staff="ana", ref=conversation_ref("a"))  # not that conversation's
    with pytest.raises(NotFound):
        flag_wrong(10**9, staff="ana")
    with session_scope() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.entity == "nlu_annotation")).all()
    assert [(a.field, a.actor, a.old_value) for a in audit] == [("flagged", "staff:ana", "check_balance")]


def test_decisions_take_a_domain_intent_and_entities_in_the_text_and_are_audited(messages: dict[str, int]) -> None:
    assert "card_swallowed" in domain_intents() and "nlu_fallback" not in domain_intents()
    with pytest.raises(InvalidInput) as bad:
        decide(messages["eaten_b"], "no_such_intent", staff="ana")
    assert bad.value.field == "intent"
    with pytest.raises(InvalidInput):
        decide(messages["eaten_b"], "card_swallowed", "merchant=the bank", staff="ana")  # not in the text
    with pytest.raises(InvalidInput):
        decide(messages["eaten_b"], "card_swallowed", "colour=blue", staff="ana")  # not an entity
    a = decide(messages["eaten_b"], "card_swallowed", staff="ana")
    assert (a.status, a.intent, a.decided_by) == ("corrected", "card_swallowed", "ana")
    fees = decide(messages["fees"], "extra_charge_on_statement", "merchant=cash machine", staff="rui")
    assert fees.entities == [{"entity": "merchant", "value": "cash machine"}]
    # decided texts leave the inbox, with their duplicates
    assert [i.event_id for i in list_inbox()] == [messages["email"]]
    assert [(d.intent, d.decided_by) for d in list_decisions()] == [("extra_charge_on_statement", "rui"),
                                                                   ("card_swallowed", "ana")]
    with session_scope() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.entity == "nlu_annotation").order_by(AuditLog.id)).all()
        assert [(x.field, x.old_value, x.new_value, x.actor) for x in audit] == [
            ("corrected", "card_arrival", "card_swallowed", "staff:ana"),
            ("corrected", "nlu_fallback", "extra_charge_on_statement", "staff:rui")]
        assert audit[1].customer_id == messages["customer_id"] and audit[0].created_at is not None


def test_export_writes_rasa_yaml_skipping_masked_duplicates_heldout_and_erased(
    messages: dict[str, int], tmp_path: Path
) -> None:
    decide(messages["eaten_b"], "card_swallowed", staff="ana")
    decide(messages["email"], "card_arrival", staff="ana")  # holds an e-mail: never training data
    decide(messages["fees"], "extra_charge_on_statement", "merchant=cash machine", staff="ana")
    flag_wrong(messages["balance"], staff="ana")
    decide(messages["balance"], "check_balance", staff="ana")  # confirmed, but already a training example
    training = tmp_path / "data"
    (training / "nlu").mkdir(parents=True)
    (training / "nlu" / "existing.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: check_balance\n  examples: |\n    - What is my [balance](account_type)\n')
    heldout = tmp_path / "heldout.csv"
    heldout.write_text("text,category\nMy card got eaten by the machine,card_swallowed\n")
    out = training / "nlu" / "reviewed.yml"

    result = export_reviewed(out, training_dir=training, heldout=heldout, staff="ana")
    assert (result.total, result.masked, result.duplicate, result.heldout, result.erased) == (1, 1, 1, 1, 0)
    doc = yaml.safe_load(out.read_text())
    assert doc["version"] == "3.1"
    assert doc["nlu"] == [{"intent": "extra_charge_on_statement",
                           "examples": "- bloody fees again at the [cash machine](merchant)\n"}]
    assert "@" not in out.read_text()

    # the customer of conversation d is erased: their annotated message leaves the training file
    erase_customer(messages["customer_id"], actor="root")
    with session_scope() as s:
        assert s.scalars(select(NluAnnotation.sender_id)).all() and "d" not in s.scalars(
            select(NluAnnotation.sender_id)).all()
    result = export_reviewed(out, training_dir=training, heldout=tmp_path / "none.csv", staff="ana")
    assert result.total == 1 and result.written == {"card_swallowed": 1}  # no held-out file given this time
    assert "fees" not in out.read_text()


def test_an_annotation_kept_after_its_message_is_gone_is_not_exported(messages: dict[str, int], tmp_path: Path) -> None:
    decide(messages["fees"], "extra_charge_on_statement", staff="ana")
    first = export_reviewed(tmp_path / "r.yml", training_dir=tmp_path, heldout=tmp_path / "none.csv")
    assert first.total == 1
    with session_scope(write=True) as s:  # e.g. a transcript erased by an older release that kept annotations
        s.delete(s.get(ConversationEvent, messages["fees"]))
    result = export_reviewed(tmp_path / "r.yml", training_dir=tmp_path, heldout=tmp_path / "none.csv")
    assert (result.total, result.erased) == (0, 1)
    assert yaml.safe_load((tmp_path / "r.yml").read_text()) == {"version": "3.1", "nlu": []}


def test_normalise() -> None:
    assert normalise("  Block MY\tcard ") == "block my card"


def test_accuracy_history_reads_the_evaluators_runs_and_never_invents_numbers(tmp_path: Path) -> None:
    path = tmp_path / "nlu_eval.json"
    assert accuracy_history(path) == []
    path.write_text("not json")
    assert accuracy_history(path) == []
    path.write_text(json.dumps({"accuracy": 0.9, "history": [
        {"evaluated_at": "2026-12-05T10:00:00+00:00", "model_sha256": "a" * 64, "data": "x", "n": 3080,
         "accuracy": 0.905, "macro_f1": 0.919},
        {"evaluated_at": "2026-12-06T01:00:00+00:00", "model_sha256": "b" * 64, "data": "x", "n": 3080,
         "accuracy": 0.91, "macro_f1": None}, {"broken": True}]}))
    runs = accuracy_history(path)
    assert [(r.accuracy, r.macro_f1, r.model_sha256[:1]) for r in runs] == [(0.905, 0.919, "a"), (0.91, None, "b")]


def test_rasa_reads_the_exported_file(sqlite_db: Engine, tmp_path: Path) -> None:
    """The file is training data Rasa 3.6 itself loads (what ``rasa train`` does with data/)."""
    rasa_python = ROOT / ".venv-rasa" / "bin" / "python"
    if not rasa_python.exists():
        pytest.skip("needs .venv-rasa: make setup")
    _store([_user("e", T0, "the atm kept my card", "card_arrival", 0.2)])
    decide(_event_id("e", "the atm kept my card"), "card_swallowed", staff="ana")
    out = tmp_path / "reviewed.yml"
    export_reviewed(out, training_dir=tmp_path, heldout=tmp_path / "none.csv")
    script = ("import sys; from rasa.shared.nlu.training_data.loading import load_data; d = load_data(sys.argv[1]); "
              "print([(m.get('text'), m.get('intent')) for m in d.intent_examples])")
    run = subprocess.run([str(rasa_python), "-c", script, str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "('the atm kept my card', 'card_swallowed')" in run.stdout


def test_two_staff_acting_on_one_new_message_at_once_share_one_annotation(messages: dict[str, int]) -> None:
    """The second of two simultaneous first actions on a message (its look-up found nothing, then the first one's
    row was committed) reads that row instead of failing on the unique event id (a 500 before)."""
    from profiles import nlu_annotation  # noqa: PLC0415

    flag_wrong(messages["balance"], staff="ana")  # the other staff member's row, committed
    with session_scope(write=True) as s:
        row = s.get(ConversationEvent, messages["balance"])
        assert row is not None
        missed_first_lookup: Any = s.scalar
        s.scalar = lambda *a, **k: None  # type: ignore[method-assign]  # as if it looked before the commit
        annotation = nlu_annotation._annotation(s, row)
        s.scalar = missed_first_lookup  # type: ignore[method-assign]
        assert annotation.flagged_by == "ana"
    with session_scope() as s:
        assert len(s.scalars(select(NluAnnotation).where(NluAnnotation.event_id == messages["balance"])).all()) == 1


def test_an_export_with_nothing_new_does_not_touch_data(sqlite_db: Engine, tmp_path: Path) -> None:
    """A new file of data/ makes the next `make train` retrain (~4 min): an export with nothing to write creates
    none, and one that would write the same text leaves the file (and its mtime) alone."""
    target = tmp_path / "reviewed.yml"
    result = export_reviewed(target, training_dir=tmp_path / "none", heldout=tmp_path / "none.csv")
    assert not target.exists() and sum(result.written.values()) == 0
    target.write_text("stale\n", encoding="utf-8")  # an earlier export whose examples are all gone: emptied
    export_reviewed(target, training_dir=tmp_path / "none", heldout=tmp_path / "none.csv")
    body = target.read_text(encoding="utf-8")
    assert "nlu: []" in body
    mtime = target.stat().st_mtime_ns
    export_reviewed(target, training_dir=tmp_path / "none", heldout=tmp_path / "none.csv")
    assert target.stat().st_mtime_ns == mtime and target.read_text(encoding="utf-8") == body
