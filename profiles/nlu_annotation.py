"""NLU annotation (issue 13 item 4): staff confirm or correct the intent of real user messages, and the reviewed
examples are exported into a Rasa training file that ``rasa train`` picks up.

- **Inbox** (:func:`list_inbox`): user messages from the transcript store (``conversation_events``) whose
  intent confidence is below ``threshold`` (``nlu_fallback`` included) or that a reviewer marked wrong
  (:func:`flag_wrong`, the transcript view's "wrong intent" button), not decided yet, one row per normalised text
  (:func:`normalise` of the masked text: the newest message stands for its duplicates, and a text already decided
  is not offered again). Texts are masked with the one rule, ``profiles.masking.redact_all``. Messages of an
  erased customer are gone from the transcript store; those of a conversation an erasure names
  (``erasure_conversations``) are left out as well.
- **Decision** (:func:`decide`): confirm the predicted intent or correct it (one of the domain's intents,
  :func:`domain_intents`) and its entities (``entity=value`` pairs, the value must occur in the text); every
  decision is an ``audit_log`` row (entity ``nlu_annotation``, who, when, old and new intent).
- **Export** (:func:`export_reviewed`): every decided annotation whose message still exists and whose
  conversation is not an erased customer's is written to ``data/nlu/reviewed.yml`` (Rasa 3 YAML), except texts
  that hold a masked value (no card number, IBAN, e-mail or phone reaches training data), exact duplicates of
  an example already in the training data (any intent: a conflicting one would also fail ``rasa data
  validate``) and texts of the BANKING77 held-out set (the accuracy figures would be inflated). The file is
  rewritten whole, so an erased customer's example leaves it at the next export.
- **Accuracy** (:func:`accuracy_history`): the last ``make eval-nlu`` runs (``results/nlu_eval.json``,
  ``history``: date, model sha256, accuracy, macro-F1), for the before/after figures on the page.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import yaml
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from profiles.audit import record_audit
from profiles.conversation_ref import conversation_ref
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotFound
from profiles.masking import MASK, redact_all
from profiles.models import ConversationEvent, Erasure, ErasureConversation, NluAnnotation, utcnow
from profiles.settings import get_settings

ROOT: Final = Path(__file__).resolve().parent.parent
DOMAIN: Final = ROOT / "domain.yml"
TRAINING_DIR: Final = ROOT / "data"
HELDOUT_FILE: Final = ROOT / "tests" / "data" / "banking77_heldout.csv"

DEFAULT_THRESHOLD: Final = 0.5
FALLBACK_INTENT: Final = "nlu_fallback"
SCAN_MAX: Final = 5000  # candidate messages read per inbox page (newest first), before de-duplication
PAGE_MAX: Final = 200
ENTITIES_MAX: Final = 10
STATUSES: Final = ("flagged", "confirmed", "corrected")
TEXT_MAX: Final = 500
# Intents no staff member should teach from a message: they are triggered by buttons or by the system.
_NOT_TRAINABLE: Final = frozenset({FALLBACK_INTENT, "rate"})
_SPACE = re.compile(r"\s+")
_ENTITY_LINE = re.compile(r"^\s*([a-z_][a-z0-9_]{0,39})\s*=\s*(.{1,100}?)\s*$")
# Rasa 3 YAML example annotation characters: a text holding them could be read as an entity annotation.
_MARKUP = re.compile(r"[\[\]{}()]")


def normalise(text: str) -> str:
    """The de-duplication key of a message: case-folded, whitespace collapsed, trimmed, at most 500 characters
    (``"  Block MY card "`` and ``"block my card"`` are one)."""
    return _SPACE.sub(" ", text.casefold()).strip()[:TEXT_MAX]


@lru_cache(maxsize=1)
def _domain() -> tuple[tuple[str, ...], tuple[str, ...]]:
    doc = yaml.safe_load(DOMAIN.read_text(encoding="utf-8")) or {}

    def names(items: Iterable[Any] | None) -> tuple[str, ...]:
        return tuple(sorted(str(next(iter(i))) if isinstance(i, dict) else str(i) for i in items or ()))

    return names(doc.get("intents")), names(doc.get("entities"))


def domain_intents() -> tuple[str, ...]:
    """The intents staff may choose (``domain.yml``, sorted), without ``nlu_fallback``, ``rate`` and the
    ``EXTERNAL_*`` intents the system triggers."""
    return tuple(i for i in _domain()[0] if i not in _NOT_TRAINABLE and not i.startswith("EXTERNAL_"))


def domain_entities() -> tuple[str, ...]:
    """The entity names of ``domain.yml`` (sorted) without the push/CSAT ones no customer types."""
    return tuple(e for e in _domain()[1] if not e.startswith("push_") and e != "csat")


# ------------------------------------------------------------------------------------------------------ inbox


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One message to annotate: ``event_id`` (the newest of its duplicates), conversation ``ref``, masked
    ``text``, the model's ``intent`` and ``confidence`` (0..1 or None), entities [(name, masked value)],
    ``flagged_by`` (who marked it wrong, None for a low-confidence message) and ``duplicates`` (how many
    messages share its normalised text, itself included)."""

    event_id: int
    ref: str
    at: datetime
    text: str
    intent: str | None
    confidence: float | None
    entities: tuple[tuple[str, str], ...]
    flagged_by: str | None
    duplicates: int


def _confidence(data: dict[str, Any] | None) -> float | None:
    value = ((data or {}).get("parse_data") or {}).get("intent", {}).get("confidence")
    return float(value) if isinstance(value, int | float) else None


def _entities(data: dict[str, Any] | None, text: str | None = None) -> tuple[tuple[str, str], ...]:
    """The model's entities as (name, masked value), the value as typed in ``text`` (the stored message) where
    the entity's span says so: a synonym's value ("checking" -> ``current_account``) is not a part of the
    message, and a decision must name one (:func:`parse_entities`), so the preselected entities of a row that is
    only confirmed must be the typed words."""
    found = ((data or {}).get("parse_data") or {}).get("entities") or ()
    out = []
    for e in found:
        if not isinstance(e, dict):
            continue
        value, start, end = str(e.get("value", "")), e.get("start"), e.get("end")
        if (text and MASK not in text and isinstance(start, int) and isinstance(end, int)
                and 0 <= start < end <= len(text)):  # spans count in the text as typed: only when nothing was masked
            value = text[start:end]
        out.append((str(e.get("entity", "?")), redact_all(value)))
    return tuple(out)


def _erased_senders() -> Any:
    return select(ErasureConversation.sender_id)


def _threshold(value: float) -> float:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):  # also refuses nan
        raise InvalidInput("threshold must be a number between 0 and 1.", field="threshold")
    return float(value)


def list_inbox(threshold: float = DEFAULT_THRESHOLD, limit: int = 50) -> list[InboxItem]:
    """Messages waiting for a decision, newest first, de-duplicated by normalised masked text (see the module
    docstring); at most ``limit`` (1..200) rows, read from the newest ``SCAN_MAX`` candidates.

    Raises:
        InvalidInput: (field ``threshold`` / ``limit``) out of range.
    """
    threshold = _threshold(threshold)
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidInput(f"limit must be between 1 and {PAGE_MAX}.", field="limit")
    E, A = ConversationEvent, NluAnnotation
    confidence = E.data["parse_data"]["intent"]["confidence"].as_float()
    with session_scope() as session:
        flagged = {a.event_id: a for a in session.scalars(select(A).where(A.status == "flagged"))}
        decided = set(session.scalars(select(A.norm_text).where(A.status != "flagged")))
        rows = session.scalars(
            select(E).where(E.event_type == "user", E.text.is_not(None),
                            or_(E.intent == FALLBACK_INTENT, confidence < threshold,
                                E.id.in_(select(A.event_id).where(A.status == "flagged"))),
                            E.sender_id.not_in(_erased_senders()))
            .order_by(E.timestamp.desc(), E.id.desc()).limit(SCAN_MAX)).all()
        groups: dict[str, list[ConversationEvent]] = {}
        for row in rows:
            masked = redact_all(row.text or "")
            key = normalise(masked)
            if not key or key.startswith("/") or key in decided:  # slash payloads are buttons, not language
                continue
            groups.setdefault(key, []).append(row)
        items = []
        for group in groups.values():
            newest = group[0]
            flag = next((flagged[r.id] for r in group if r.id in flagged), None)
            items.append(InboxItem(
                event_id=newest.id, ref=conversation_ref(newest.sender_id), at=newest.timestamp,
                text=redact_all(newest.text or "")[:TEXT_MAX], intent=newest.intent, confidence=_confidence(newest.data),
                entities=_entities(newest.data, newest.text), flagged_by=flag.flagged_by if flag else None, duplicates=len(group)))
            if len(items) >= limit:
                break
    return items


# ------------------------------------------------------------------------------------------- flag and decide


def _user_event(session: Any, event_id: int) -> ConversationEvent:
    row = session.get(ConversationEvent, event_id) if isinstance(event_id, int) and 0 < event_id < 2**63 else None
    if row is None or row.event_type != "user" or not row.text:
        raise NotFound("There is no such customer message.")
    if session.scalar(select(ErasureConversation.id).where(ErasureConversation.sender_id == row.sender_id).limit(1)):
        raise NotFound("There is no such customer message.")
    return row


def _annotation(session: Any, row: ConversationEvent) -> NluAnnotation:
    found = session.scalar(select(NluAnnotation).where(NluAnnotation.event_id == row.id))
    if found is not None:
        return found
    masked = redact_all(row.text or "")[:TEXT_MAX]
    annotation = NluAnnotation(event_id=row.id, sender_id=row.sender_id, text=masked, norm_text=normalise(masked),
                               predicted_intent=row.intent, confidence=_confidence(row.data), status="flagged")
    try:
        with session.begin_nested():  # two staff acting on one new message at once: the second reads the first's
            session.add(annotation)
    except IntegrityError:
        return session.scalars(select(NluAnnotation).where(NluAnnotation.event_id == row.id)).one()
    return annotation


def flag_wrong(event_id: int, *, staff: str, ref: str | None = None) -> None:
    """A reviewer marks the intent of one user message wrong: it enters the annotation inbox (idempotent; a
    message already decided stays decided). ``ref``: the conversation the message must belong to (the
    transcript page's form). Audited (``nlu_annotation`` / ``flagged``).

    Raises:
        NotFound: no such user message (in that conversation), or one of an erased customer's conversations.
    """
    with session_scope(write=True) as session:
        row = _user_event(session, event_id)
        if ref is not None and conversation_ref(row.sender_id) != ref:
            raise NotFound("There is no such customer message.")
        annotation = _annotation(session, row)
        if annotation.status != "flagged" or annotation.flagged_by:
            return
        annotation.flagged_by, annotation.flagged_at = staff, utcnow()
        session.flush()
        record_audit(session, customer_id=row.customer_id, entity="nlu_annotation", entity_id=annotation.id,
                     field="flagged", old_value=row.intent, new_value=None, channel="staff_console",
                     actor=f"staff:{staff}")


def parse_entities(raw: str | Sequence[tuple[str, str]] | None, text: str) -> list[dict[str, str]]:
    """Entities of a decision: ``entity=value`` lines (or pairs); each entity must be in the domain and each
    value occur in ``text`` (the masked message) and hold no masked value. Empty = none.

    Raises:
        InvalidInput: (field ``entities``) a malformed line, unknown entity, value not in the text, too many.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, str):
        for line in raw.splitlines():
            if not line.strip():
                continue
            match = _ENTITY_LINE.match(line)
            if not match:
                raise InvalidInput("Write each entity as entity=value on its own line.", field="entities")
            pairs.append((match.group(1), match.group(2)))
    elif raw:
        pairs = [(str(n).strip(), str(v).strip()) for n, v in raw]
    if len(pairs) > ENTITIES_MAX:
        raise InvalidInput(f"At most {ENTITIES_MAX} entities.", field="entities")
    known = domain_entities()
    out = []
    for name, value in pairs:
        if name not in known:
            raise InvalidInput(f"{name or 'An empty name'} is not an entity of the assistant.", field="entities")
        if not value or value not in text or MASK in value or _MARKUP.search(value):
            raise InvalidInput(f"The value of {name} must be a part of the message.", field="entities")
        out.append({"entity": name, "value": value})
    return out


def decide(event_id: int, intent: str, entities: str | Sequence[tuple[str, str]] | None = None, *,
           staff: str) -> NluAnnotation:
    """Confirm (``intent`` = the predicted one) or correct the intent and entities of one user message; the
    decision replaces an earlier one. Audited: ``nlu_annotation`` / ``confirmed`` or ``corrected``, old and new
    intent, ``staff:<username>``, now.

    Raises:
        NotFound: no such user message. InvalidInput: (``intent``) not one of :func:`domain_intents`,
        (``entities``) see :func:`parse_entities`.
    """
    if intent not in domain_intents():
        raise InvalidInput("Pick one of the assistant's intents.", field="intent")
    with session_scope(write=True) as session:
        row = _user_event(session, event_id)
        annotation = _annotation(session, row)
        chosen = parse_entities(entities, annotation.text)
        status = "confirmed" if intent == row.intent else "corrected"
        old = annotation.intent or row.intent
        annotation.status, annotation.intent, annotation.entities = status, intent, chosen
        annotation.decided_by, annotation.decided_at = staff, utcnow()
        session.flush()
        record_audit(session, customer_id=row.customer_id, entity="nlu_annotation", entity_id=annotation.id,
                     field=status, old_value=old, new_value=intent, channel="staff_console", actor=f"staff:{staff}")
        session.expunge(annotation)
        return annotation


@dataclass(frozen=True, slots=True)
class Decision:
    """A decided annotation as the page lists it (masked text)."""

    event_id: int
    text: str
    predicted: str | None
    intent: str
    status: str
    entities: tuple[tuple[str, str], ...]
    decided_by: str
    decided_at: datetime


def list_decisions(limit: int = 50) -> list[Decision]:
    """The newest decisions (confirmed and corrected), at most ``limit``."""
    with session_scope() as session:
        rows = session.scalars(select(NluAnnotation).where(NluAnnotation.status != "flagged")
                               .order_by(NluAnnotation.decided_at.desc(), NluAnnotation.id.desc()).limit(limit))
        return [Decision(event_id=a.event_id, text=a.text, predicted=a.predicted_intent, intent=a.intent or "",
                         status=a.status, entities=tuple((e["entity"], e["value"]) for e in a.entities or ()),
                         decided_by=a.decided_by or "", decided_at=a.decided_at or utcnow()) for a in rows]


# ----------------------------------------------------------------------------------------------------- export


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What :func:`export_reviewed` wrote: ``written`` examples per intent, and how many decisions were skipped
    because their text held a masked value (``masked``), already was a training example (``duplicate``), is a
    held-out test text (``heldout``) or belongs to an erased customer / a message no longer stored (``erased``)."""

    path: Path
    written: dict[str, int]
    masked: int
    duplicate: int
    heldout: int
    erased: int

    @property
    def total(self) -> int:
        """Examples written."""
        return sum(self.written.values())


def _training_texts(training_dir: Path, skip: Path) -> set[str]:
    """The normalised texts of every NLU example under ``training_dir`` except the file ``skip``, with entity
    annotations ``[value](entity)`` / ``[value]{...}`` reduced to their value (Rasa's own reading)."""
    texts: set[str] = set()
    annotation = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
    for path in sorted(training_dir.rglob("*.yml")):
        if path.resolve() == skip.resolve():
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in doc.get("nlu") or () if isinstance(doc, dict) else ():
            examples = block.get("examples") if isinstance(block, dict) else None
            for line in (examples or "").splitlines() if isinstance(examples, str) else ():
                line = line.strip()
                if line.startswith("- "):
                    texts.add(normalise(annotation.sub(r"\1", line[2:])))
    return texts


def _heldout_texts(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    with path.open(encoding="utf-8", newline="") as fh:
        return {normalise(row.get("text") or "") for row in csv.DictReader(fh)}


def _example(text: str, entities: Sequence[dict[str, str]]) -> str:
    """``text`` with each entity's first occurrence annotated ``[value](entity)``."""
    out = text
    for e in entities:
        value = e["value"]
        at = out.find(value)
        if at >= 0:
            out = f"{out[:at]}[{value}]({e['entity']}){out[at + len(value):]}"
    return out


def export_reviewed(path: Path | None = None, *, training_dir: Path | None = None,
                    heldout: Path | None = None, staff: str = "system") -> ExportResult:
    """Write every exportable decision to ``path`` (default the setting ``nlu_reviewed_file``,
    ``data/nlu/reviewed.yml``) as Rasa 3 YAML, one block
    per intent, examples sorted; the file is replaced atomically, and left alone when its text would not change
    (no file is created for an export with nothing to write: a new file of ``data/`` makes the next ``make train``
    retrain). An existing file is emptied (``nlu: []``) when nothing is left to export (e.g. after an erasure).
    See the module docstring for what is skipped. Audited once (``nlu_annotation`` / ``export``, the counts)."""
    target = path or get_settings().nlu_reviewed_file
    known = _training_texts(training_dir or TRAINING_DIR, target)
    held = _heldout_texts(heldout or HELDOUT_FILE)
    erased_customers = select(Erasure.customer_id)
    by_intent: dict[str, dict[str, str]] = {}
    counts = {"masked": 0, "duplicate": 0, "heldout": 0, "erased": 0}
    with session_scope(write=True) as session:
        E, A = ConversationEvent, NluAnnotation
        rows = session.execute(
            select(A, E.id, E.text, E.customer_id, E.sender_id.in_(_erased_senders()).label("erased_conversation"),
                   E.customer_id.in_(erased_customers).label("erased_customer"))
            .outerjoin(E, E.id == A.event_id).where(A.status != "flagged")
            .order_by(A.decided_at.desc(), A.id.desc())).all()
        seen: set[str] = set()
        for a, event_id, raw, _customer, erased_conversation, erased_customer in rows:
            if event_id is None or erased_conversation or erased_customer or a.intent not in domain_intents():
                counts["erased"] += 1
                continue
            text = _SPACE.sub(" ", (raw or "").strip())
            if not text or redact_all(text) != text or MASK in text or _MARKUP.search(text):
                counts["masked"] += 1  # a card/IBAN/e-mail/phone (or annotation markup) never enters training data
                continue
            key = normalise(text)
            if key in held:
                counts["heldout"] += 1
                continue
            if key in known or key in seen:  # the newest decision of a text wins
                counts["duplicate"] += 1
                continue
            seen.add(key)
            by_intent.setdefault(a.intent or "", {})[key] = _example(text, a.entities or ())
        written = {i: len(v) for i, v in sorted(by_intent.items())}
        record_audit(session, customer_id=None, entity="nlu_annotation", entity_id=None, field="export",
                     old_value=None, new_value=json.dumps({"written": sum(written.values()), **counts}),
                     channel="staff_console", actor=f"staff:{staff}" if staff != "system" else "system")
    body = "# Reviewed examples from the staff console's NLU annotation inbox (profiles/nlu_annotation.py).\n" \
           "# Written by `make export-nlu` / the inbox's Export button: do not edit by hand.\n"
    doc = {"version": "3.1",
           "nlu": [{"intent": i, "examples": "".join(f"- {v}\n" for _, v in sorted(ex.items()))}
                   for i, ex in sorted(by_intent.items())]}
    body += yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True, width=10_000)
    unchanged = target.read_text(encoding="utf-8") == body if target.exists() else not by_intent
    if unchanged:
        return ExportResult(path=target, written=written, **counts)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".tmp", delete=False) as tmp:  # one file per export: two at once never share it
        tmp.write(body)
    Path(tmp.name).replace(target)
    return ExportResult(path=target, written=written, **counts)


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks (Rasa's examples style)."""


_LiteralDumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


# --------------------------------------------------------------------------------------------------- accuracy


@dataclass(frozen=True, slots=True)
class EvalRun:
    """One ``make eval-nlu`` run: when (UTC ISO), the model archive's sha256 (first 12 hex digits shown), the
    held-out accuracy and macro-F1 (0..1), and how many held-out messages."""

    evaluated_at: str
    model_sha256: str
    accuracy: float
    macro_f1: float | None
    n: int


def accuracy_history(path: Path | None = None) -> list[EvalRun]:
    """The evaluator's runs from ``path`` (default the setting ``nlu_eval_file``, ``results/nlu_eval.json``: its
    ``history``, oldest first); ``[]`` when the
    file is missing or unreadable (no numbers are ever made up)."""
    source = path or get_settings().nlu_eval_file
    try:
        report = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    runs = []
    for entry in report.get("history") or () if isinstance(report, dict) else ():
        try:
            runs.append(EvalRun(evaluated_at=str(entry["evaluated_at"]), model_sha256=str(entry["model_sha256"]),
                                accuracy=float(entry["accuracy"]),
                                macro_f1=float(entry["macro_f1"]) if entry.get("macro_f1") is not None else None,
                                n=int(entry["n"])))
        except (KeyError, TypeError, ValueError):
            continue
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m profiles.nlu_annotation export [--out PATH]`` (what ``make export-nlu`` runs)."""
    import argparse  # noqa: PLC0415 - the command line only

    parser = argparse.ArgumentParser(description="Export the reviewed NLU examples into Rasa training data.")
    parser.add_argument("command", choices=["export"])
    parser.add_argument("--out", type=Path, help="default the setting NLU_REVIEWED_FILE: data/nlu/reviewed.yml")
    args = parser.parse_args(argv)
    from profiles.db import init_db  # noqa: PLC0415

    init_db()
    r = export_reviewed(args.out)
    print(f"wrote {r.total} examples to {r.path} ({', '.join(f'{k} {v}' for k, v in r.written.items()) or 'none'}); "
          f"skipped {r.duplicate} duplicates, {r.masked} with masked values, {r.heldout} held-out texts, "
          f"{r.erased} erased or gone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
