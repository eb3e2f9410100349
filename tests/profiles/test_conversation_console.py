"""The staff console's services (profiles.conversations, profiles.conversation_review) on both backends, over
events translated by the real feed code (profiles.feed.translate.apply_event)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from profiles.conversation_review import (
    add_note,
    add_tag,
    assign,
    bulk_action,
    delete_saved_filter,
    export_conversations,
    export_csv,
    list_saved_filters,
    remove_tag,
    save_filter,
    saved_filter_params,
    set_reviewed,
    unmask,
)
from profiles.conversations import (
    ConversationFilters,
    conversation_ref,
    get_transcript,
    list_conversations,
    parse_filters,
)
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotAllowed, NotFound
from profiles.feed.translate import apply_event
from profiles.models import AccessLog, ConversationEvent, ConversationUnmask
from profiles.sealing import seal_owner
from tests.profiles.conftest import build_customer

T0 = 1_764_700_000.0


def _user(sender: str, ts: float, text: str, intent: str, confidence: float, channel: str = "rest",
          entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"event": "user", "sender_id": sender, "timestamp": ts, "text": text, "input_channel": channel,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": entities or [],
                           "text": text}}


def _bot(sender: str, ts: float, text: str, buttons: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {"event": "bot", "sender_id": sender, "timestamp": ts, "text": text,
            "data": {"buttons": [{"title": b, "payload": f"/{b}"} for b in buttons]}}


def _action(sender: str, ts: float, name: str) -> dict[str, Any]:
    return {"event": "action", "sender_id": sender, "timestamp": ts, "name": name}


def _slot(sender: str, ts: float, name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "sender_id": sender, "timestamp": ts, "name": name, "value": value}


def _store(events: list[dict[str, Any]]) -> None:
    with session_scope(write=True) as session:
        for e in events:
            apply_event(session, e)


@pytest.fixture
def inbox(db: Engine) -> Iterator[dict[str, str]]:
    """Three conversations: a fallback on REST (newest), a complaint with an e-mail on Telegram, a transfer on
    socket.io whose customer is linked through the owner slot."""
    built = build_customer()
    _store([
        _user("web-transfer", T0, "send 20 euros to mum", "transfer_money", 0.93, "socketio",
              [{"entity": "amount", "value": "20"}]),
        _action("web-transfer", T0 + 1, "action_verify_customer"),
        _slot("web-transfer", T0 + 1.1, "owner", seal_owner("web-transfer", built.customer_id)),
        _action("web-transfer", T0 + 2, "action_submit_transfer"),
        _slot("web-transfer", T0 + 2.1, "amount", 20.0),
        _bot("web-transfer", T0 + 3, "Done: EUR 20.00 sent."),
        _user("tg-complaint", T0 + 100, "I am not happy, write to ana.silva@example.com", "complain", 0.71,
              "telegram"),
        _bot("tg-complaint", T0 + 101, "I'm sorry we let you down.", ["Talk to a human"]),
        _user("tg-complaint", T0 + 102, "talk to a human", "human_handoff", 0.98, "telegram"),
        _action("tg-complaint", T0 + 103, "action_human_handoff"),
        _user("rest-fallback", T0 + 200, "zorgle the blorp transfers", "nlu_fallback", 0.21),
        _action("rest-fallback", T0 + 201, "utter_fallback"),
        _bot("rest-fallback", T0 + 201.5, "Sorry, I didn't quite understand that.", ["What can you do?"]),
    ])
    yield {"fallback": conversation_ref("rest-fallback"), "complaint": conversation_ref("tg-complaint"),
           "transfer": conversation_ref("web-transfer"), "customer_id": str(built.customer_id)}


def _refs(**filters: Any) -> list[str]:
    page = list_conversations(ConversationFilters(**filters), staff="ana", role="staff")
    return [c.ref for c in page.items]


def test_inbox_lists_every_conversation_newest_first_with_flags(inbox: dict[str, str]) -> None:
    page = list_conversations(ConversationFilters(), staff="ana", role="staff")
    assert [c.ref for c in page.items] == [inbox["fallback"], inbox["complaint"], inbox["transfer"]]
    assert page.total == 3
    fallback, complaint, transfer = page.items
    assert fallback.flags["fallback"] and not fallback.flags["handoff"] and fallback.turns == 1
    assert complaint.flags["complaint"] and complaint.flags["handoff"] and complaint.channel == "telegram"
    assert complaint.turns == 2 and complaint.customer is None
    assert transfer.flags["transfer_done"] and transfer.customer_id == int(inbox["customer_id"])
    assert transfer.customer is not None and transfer.customer.startswith("Test Customer")
    # no raw sender id anywhere in what staff get
    assert "rest-fallback" not in repr(page)


def test_filters_combine(inbox: dict[str, str]) -> None:
    assert _refs(fallback=True) == [inbox["fallback"]]
    assert _refs(fallback=False) == [inbox["complaint"], inbox["transfer"]]
    assert _refs(channel="telegram") == [inbox["complaint"]]
    assert _refs(customer="known") == [inbox["transfer"]]
    assert _refs(customer="anonymous", handoff=True) == [inbox["complaint"]]
    assert _refs(intent="transfer_money") == [inbox["transfer"]]
    assert _refs(max_confidence=0.5) == [inbox["fallback"]]
    assert _refs(min_confidence=0.9) == [inbox["complaint"], inbox["transfer"]]
    assert _refs(intent="complain", min_confidence=0.9) == []
    assert _refs(per_page=1, page=2) == [inbox["complaint"]]


def test_csat_column_and_filter(inbox: dict[str, str]) -> None:
    """The last score given is the conversation's CSAT (actions/csat.py sets the slot ``csat``); values outside
    1..5 are no rating."""
    _store([_slot("web-transfer", T0 + 10, "csat", 2), _slot("web-transfer", T0 + 11, "csat", 5),
            _slot("tg-complaint", T0 + 110, "csat", 1), _slot("rest-fallback", T0 + 210, "csat", 9)])
    page = list_conversations(ConversationFilters(), staff="ana", role="staff")
    assert {c.ref: c.csat for c in page.items} == {inbox["fallback"]: None, inbox["complaint"]: 1,
                                                   inbox["transfer"]: 5}
    assert _refs(csat="5") == [inbox["transfer"]]
    assert _refs(csat="2") == []  # replaced by the later 5
    assert _refs(csat="rated") == [inbox["complaint"], inbox["transfer"]]
    assert _refs(csat="unrated") == [inbox["fallback"]]
    assert _refs(csat="low", handoff=True) == [inbox["complaint"]]
    assert parse_filters({"csat": "low"}).csat == "low"
    with pytest.raises(InvalidInput) as bad:
        parse_filters({"csat": "6"})
    assert bad.value.field == "csat"


def test_full_text_search_stems_and_ignores_syntax(inbox: dict[str, str]) -> None:
    assert _refs(q="transfer") == [inbox["fallback"]]  # "transfers" stems to transfer
    assert _refs(q="happy") == [inbox["complaint"]]
    assert _refs(q="sent") == [inbox["transfer"]]  # bot texts are searched too
    assert _refs(q='"happy* ^(') == [inbox["complaint"]]  # FTS syntax is searched as words
    assert _refs(q="nothing-like-this") == []
    assert len(_refs(q="  ")) == 3  # no words: no search


def test_parse_filters_refuses_bad_values() -> None:
    f = parse_filters({"channel": "telegram", "fallback": "1", "min_confidence": "0.2", "date_from": "2026-12-01",
                       "page": "2", "unknown": "x"})
    assert (f.channel, f.fallback, f.min_confidence, f.page) == ("telegram", True, 0.2, 2)
    assert dict(f.query_items())["fallback"] == "1"
    for bad in ({"channel": "fax"}, {"fallback": "maybe"}, {"min_confidence": "nan"}, {"max_confidence": "2"},
                {"date_to": "yesterday"}, {"page": "0"}, {"per_page": "9999"}, {"customer": "vip"},
                {"min_confidence": "0.8", "max_confidence": "0.2"}, {"q": "x" * 201}, {"date_to": "9999-12-31"}):
        with pytest.raises(InvalidInput):
            parse_filters(bad)


def test_transcript_shows_intents_actions_slots_masked_and_is_access_logged(inbox: dict[str, str]) -> None:
    t = get_transcript(inbox["transfer"], staff="ana", role="staff")
    kinds = [(x.kind, x.intent or x.action) for x in t.turns]
    assert kinds == [("user", "transfer_money"), ("action", "action_verify_customer"),
                     ("action", "action_submit_transfer"), ("bot", None)]
    user = t.turns[0]
    assert user.confidence == pytest.approx(0.93) and user.entities == (("amount", "20"),)
    assert t.turns[2].slots == (("amount", "20.0"),)
    complaint = get_transcript(inbox["complaint"], staff="ana", role="staff")
    first = complaint.turns[0]
    assert first.text == "I am not happy, write to a••••@example.com" and first.maskable == 1
    assert complaint.turns[1].buttons == ("Talk to a human",)
    with session_scope() as s:
        rows = s.scalars(select(AccessLog).where(AccessLog.action == "transcript").order_by(AccessLog.id)).all()
    assert [(r.staff, r.customer_id) for r in rows] == [("ana", int(inbox["customer_id"])), ("ana", None)]
    assert all("tg-" not in (r.detail or "") and "web-" not in (r.detail or "") for r in rows)
    with pytest.raises(NotFound):
        get_transcript("c-" + "0" * 20, staff="ana", role="staff")
    with pytest.raises(NotFound):
        get_transcript("rest-fallback", staff="ana", role="staff")  # a sender id is not a ref


def test_review_workflow_tags_notes_assign_reviewed(inbox: dict[str, str]) -> None:
    ref = inbox["fallback"]
    assert add_tag(ref, " Bad Answer ", staff="ana") == "bad-answer"
    add_tag(ref, "bad-answer", staff="ana")  # idempotent
    add_tag(ref, "follow-up", staff="ana")
    remove_tag(ref, "follow-up", staff="ana")
    with pytest.raises(InvalidInput):
        add_tag(ref, "<script>", staff="ana")
    add_note(ref, "Customer typed card 4111 1111 1111 1111 — check", staff="ana")
    assign(ref, "bruno", staff="ana")
    set_reviewed(ref, True, staff="ana")
    assert _refs(tag="bad-answer") == [ref]
    assert _refs(reviewed=True) == [ref]
    assert _refs(reviewed=False) == [inbox["complaint"], inbox["transfer"]]
    assert _refs(assignee="bruno") == [ref]
    t = get_transcript(ref, staff="ana", role="staff")
    assert t.summary.tags == ("bad-answer",) and t.summary.reviewed and t.summary.assignee == "bruno"
    assert t.notes[0].text == "Customer typed card •••• 1111 — check"
    with pytest.raises(NotFound):
        add_tag("c-" + "1" * 20, "x", staff="ana")


def test_bulk_actions_apply_to_the_filtered_list(inbox: dict[str, str]) -> None:
    assert bulk_action(ConversationFilters(customer="anonymous"), "tag", "needs-training", staff="ana") == 2
    assert _refs(tag="needs-training") == [inbox["fallback"], inbox["complaint"]]
    assert bulk_action(ConversationFilters(tag="needs-training"), "reviewed", None, staff="ana") == 2
    assert _refs(reviewed=False) == [inbox["transfer"]]
    assert bulk_action(ConversationFilters(channel="telegram"), "untag", "needs-training", staff="ana") == 1
    assert _refs(tag="needs-training") == [inbox["fallback"]]
    with pytest.raises(InvalidInput):
        bulk_action(ConversationFilters(), "delete", None, staff="ana")


def test_saved_filters_are_per_staff_member(inbox: dict[str, str]) -> None:
    saved = save_filter("ana", "Fallbacks on REST", ConversationFilters(channel="rest", fallback=True))
    save_filter("ana", "Fallbacks on REST", ConversationFilters(channel="rest", fallback=True, reviewed=False))
    assert [v.name for v in list_saved_filters("ana")] == ["Fallbacks on REST"]
    assert list_saved_filters("bruno") == []
    params = saved_filter_params(list_saved_filters("ana")[0])
    assert (params.channel, params.fallback, params.reviewed) == ("rest", True, False)
    with pytest.raises(NotFound):
        delete_saved_filter("bruno", saved.id)
    delete_saved_filter("ana", saved.id)
    assert list_saved_filters("ana") == []


def test_export_is_masked_and_has_no_sender_id(inbox: dict[str, str]) -> None:
    rows = export_conversations(ConversationFilters(complaint=True), staff="ana", role="staff")
    assert [r["ref"] for r in rows] == [inbox["complaint"]]
    body = json.dumps(rows) + export_csv(rows)
    assert "ana.silva@example.com" not in body and "a••••@example.com" in body
    assert "tg-complaint" not in body
    assert export_csv(rows).splitlines()[0].startswith("ref,customer_id,channel")


def test_admin_unmasks_one_value_with_a_reason_audited(inbox: dict[str, str]) -> None:
    ref = inbox["complaint"]
    event_id = get_transcript(ref, staff="root", role="admin").turns[0].event_id
    with pytest.raises(NotAllowed):
        unmask(ref, event_id, 0, "customer asked us to write", staff="ana", role="staff")
    with pytest.raises(InvalidInput):
        unmask(ref, event_id, 0, "  ", staff="root", role="admin")
    with pytest.raises(NotFound):
        unmask(ref, event_id, 5, "customer asked us to write", staff="root", role="admin")
    assert unmask(ref, event_id, 0, "customer asked us to write", staff="root", role="admin") == "ana.silva@example.com"
    with session_scope() as s:
        record = s.scalars(select(ConversationUnmask)).one()
        log = s.scalars(select(AccessLog).where(AccessLog.action == "unmask")).one()
        assert s.get(ConversationEvent, event_id) is not None
    assert (record.staff, record.reason, record.item) == ("root", "customer asked us to write", 0)
    assert log.staff == "root" and "example.com" not in (log.detail or "")


def test_a_common_word_is_paged_newest_first_without_counting_every_match(
    pg_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: above the estimate threshold the search walks conversations newest-first (forced here with a
    threshold of 0); the pages are the ordinary path's, the total a lower bound until the last page."""
    import profiles.conversations as conversations  # noqa: PLC0415

    events = []
    for i in range(12):
        sender = f"common-{i:02d}"
        events.append(_user(sender, T0 + 10 * i, f"my card is blocked number {i}", "card_blocked", 0.9,
                            "telegram" if i % 3 == 0 else "rest"))
        events.append(_bot(sender, T0 + 10 * i + 1, "Let me help with your card."))
    events.append(_bot("push-only", T0 + 500, "Your card is blocked? Call us."))  # no user message: not listed
    events.append(_user("other", T0 + 600, "hello there", "greet", 0.99))
    _store(events)

    def pages(**kw: Any) -> list[tuple[list[str], int, bool]]:
        out = []
        for page in (1, 2, 3):
            p = list_conversations(ConversationFilters(q="blocked", per_page=5, page=page, **kw), staff="a", role="staff")
            out.append(([c.ref for c in p.items], p.total, p.total_exact))
        return out

    exact = pages()
    assert [len(r) for r, _, _ in exact] == [5, 5, 2] and {t for _, t, _ in exact} == {12}
    tg_exact = pages(channel="telegram")
    monkeypatch.setattr(conversations, "COMMON_WORD_ESTIMATE", 0)
    monkeypatch.setattr(conversations, "WALK_BATCH", 3)  # several batches
    walked = pages()
    assert [r for r, _, _ in walked] == [r for r, _, _ in exact]
    assert [(t, e) for _, t, e in walked] == [(6, False), (11, False), (12, True)]
    assert [r for r, _, _ in pages(channel="telegram")] == [r for r, _, _ in tg_exact]  # other filters too
    monkeypatch.setattr(conversations, "WALK_MAX", 4)  # a walk that finds too little answers the ordinary way
    assert pages()[0] == exact[0]


def test_the_inbox_without_a_search_is_walked_newest_first_in_a_large_store(
    pg_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the inbox without a search (alone or with other filters) takes the same newest-first walk
    once the store is large (forced with a threshold of 0): the same pages as the exact path, conversations
    without a customer message still left out."""
    import profiles.conversations as conversations  # noqa: PLC0415

    events = []
    for i in range(12):
        sender = f"inbox-{i:02d}"
        events.append(_user(sender, T0 + 10 * i, f"question {i}", "nlu_fallback" if i % 4 == 0 else "greet",
                            0.2 if i % 4 == 0 else 0.9, "telegram" if i % 3 == 0 else "rest"))
        events.append(_bot(sender, T0 + 10 * i + 1, "An answer."))
    events.append(_bot("push-only", T0 + 500, "A reminder nobody answered."))  # no user message: not listed
    _store(events)

    def pages(**kw: Any) -> list[list[str]]:
        return [[c.ref for c in list_conversations(ConversationFilters(per_page=5, page=page, **kw), staff="a",
                                                   role="staff").items] for page in (1, 2, 3)]

    exact, tg_exact, fb_exact = pages(), pages(channel="telegram"), pages(fallback=True)
    assert [len(p) for p in exact] == [5, 5, 2]
    monkeypatch.setattr(conversations, "COMMON_WORD_ESTIMATE", 0)
    monkeypatch.setattr(conversations, "WALK_BATCH", 3)
    walked = list_conversations(ConversationFilters(per_page=5), staff="a", role="staff")
    assert (walked.total, walked.total_exact) == (6, False)  # walked: a lower bound, not a count of everything
    assert pages() == exact
    assert pages(channel="telegram") == tg_exact
    assert pages(fallback=True) == fb_exact
