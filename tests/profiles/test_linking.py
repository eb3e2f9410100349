"""profiles.linking on SQLite and PostgreSQL: codes, redemption, rate limit, unlink, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from profiles.db import session_scope
from profiles.errors import InvalidInput, NotAllowed, NotFound
from profiles.linking import (
    CODE_ALPHABET,
    MAX_FAILED_ATTEMPTS,
    failed_attempts,
    find_code,
    issue_link_code,
    linked_customer,
    normalise_code,
    redeem_link_code,
    unlink,
)
from profiles.models import AuditLog, LinkCode, MessengerLink, utcnow
from tests.profiles.conftest import Built


def _audit(customer_id: int | None, field: str) -> list[AuditLog]:
    with session_scope() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.customer_id == customer_id, AuditLog.field == field)))


def test_code_shape_storage_and_audit(alice: Built) -> None:
    code = issue_link_code(alice.customer_id)
    assert len(code) == 9 and code[4] == "-"
    plain = code.replace("-", "")
    assert all(ch in CODE_ALPHABET for ch in plain) and any(ch.isdigit() for ch in plain)
    with session_scope() as s:
        row = s.scalars(select(LinkCode)).one()
        assert plain not in row.code_hash and len(row.code_hash) == 64  # only the hash is stored
        assert row.customer_id == alice.customer_id and row.used_at is None
        ttl = row.expires_at - row.created_at
        assert timedelta(minutes=9) < ttl <= timedelta(minutes=10)
    assert len(_audit(alice.customer_id, "issued")) == 1


def test_redeem_links_once_and_unlink(alice: Built) -> None:
    code = issue_link_code(alice.customer_id)
    typed = f"  {code.lower().replace('-', ' ')} "  # case, spaces: same code
    assert redeem_link_code("telegram", "5550001", typed) == alice.customer_id
    assert linked_customer("telegram", "5550001") == alice.customer_id
    assert linked_customer("facebook", "5550001") is None  # per channel
    assert linked_customer("rest", "5550001") is None  # never for a non-messenger channel
    with session_scope() as s:
        row = s.scalars(select(LinkCode)).one()
        assert row.used_at is not None and row.used_by == "telegram:5550001"
    assert len(_audit(alice.customer_id, "linked")) == 1

    with pytest.raises(NotAllowed, match="already been used"):
        redeem_link_code("telegram", "5550002", code)
    assert linked_customer("telegram", "5550002") is None

    assert unlink("telegram", "5550001") == alice.customer_id
    assert linked_customer("telegram", "5550001") is None
    assert len(_audit(alice.customer_id, "unlinked")) == 1
    with pytest.raises(NotFound):
        unlink("telegram", "5550001")


def test_expired_unknown_and_malformed_codes(alice: Built) -> None:
    code = issue_link_code(alice.customer_id)
    with session_scope() as s:
        s.execute(update(LinkCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(NotAllowed, match="expired"):
        redeem_link_code("facebook", "psid-1", code)
    with pytest.raises(NotFound):
        redeem_link_code("facebook", "psid-1", "QWER-2345")
    with pytest.raises(InvalidInput) as err:
        redeem_link_code("facebook", "psid-1", "hello")
    assert err.value.field == "code"
    with pytest.raises(InvalidInput) as err:
        redeem_link_code("sms", "psid-1", code)
    assert err.value.field == "channel"
    with session_scope() as s:
        assert s.scalar(select(MessengerLink.id)) is None
    assert failed_attempts("facebook", "psid-1") == 3  # the bad channel is refused before counting


def test_new_code_replaces_unused_one(alice: Built) -> None:
    first = issue_link_code(alice.customer_id)
    second = issue_link_code(alice.customer_id)
    with pytest.raises(NotFound):
        redeem_link_code("telegram", "42", first)
    assert redeem_link_code("telegram", "42", second) == alice.customer_id


def test_rate_limit_per_messenger_account(alice: Built) -> None:
    code = issue_link_code(alice.customer_id)
    for _ in range(MAX_FAILED_ATTEMPTS):
        with pytest.raises(NotFound):
            redeem_link_code("telegram", "777", "ZZZZ-9999")
    with pytest.raises(NotAllowed) as err:
        redeem_link_code("telegram", "777", code)  # even the right code, until the window has passed
    assert "Too many wrong codes" in err.value.user_message
    assert linked_customer("telegram", "777") is None
    assert redeem_link_code("telegram", "778", code) == alice.customer_id  # another account is not limited


def test_relinking_moves_account_to_new_customer(alice: Built, bob: Built) -> None:
    assert redeem_link_code("telegram", "99", issue_link_code(alice.customer_id)) == alice.customer_id
    assert redeem_link_code("telegram", "99", issue_link_code(bob.customer_id)) == bob.customer_id
    assert linked_customer("telegram", "99") == bob.customer_id
    with session_scope() as s:
        assert len(list(s.scalars(select(MessengerLink)))) == 1


def test_unknown_customer_gets_no_code(db: Engine) -> None:
    with pytest.raises(NotFound):
        issue_link_code(999_999)
    with session_scope() as s:
        assert s.scalar(select(LinkCode.id)) is None


def test_find_and_normalise() -> None:
    assert find_code("link 7kq2-9xpa please") == "7KQ29XPA"
    assert find_code("/start 7KQ29XPA") == "7KQ29XPA"
    assert find_code("link my telegram") is None
    assert find_code("xx7KQ29XPAyy") is None
    assert normalise_code("7kq2 9xpa") == "7KQ29XPA"
    with pytest.raises(InvalidInput):
        normalise_code("7KQ2-9XP0")  # 0 is not in the alphabet


def test_one_code_tried_from_many_accounts_is_limited(alice: Built) -> None:
    """Only the per-account limit existed: N accounts could each try a code 5 times."""
    from profiles.linking import MAX_FAILED_PER_CODE

    for n in range(MAX_FAILED_PER_CODE):
        with pytest.raises(NotFound):
            redeem_link_code("telegram", f"acct-{n}", "ZZZZ-9999")
    with pytest.raises(NotAllowed) as err:
        redeem_link_code("telegram", "fresh-account", "zzzz 9999")  # same code, any spelling, a new account
    assert "paused" in err.value.user_message
    assert redeem_link_code("telegram", "fresh-account", issue_link_code(alice.customer_id)) == alice.customer_id
    with session_scope() as s:
        stored = [a.old_value for a in s.scalars(select(AuditLog).where(AuditLog.field == "link_code_rejected"))]
    assert stored and all(v and v.startswith("code:") and "ZZZZ" not in v for v in stored)  # never the code


def test_many_accounts_guessing_many_codes_hit_the_global_limit(alice: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    import profiles.linking as linking

    monkeypatch.setattr(linking, "MAX_FAILED_GLOBAL", 6)
    for n, guess in enumerate(["ZZZZ-9992", "ZZZZ-9993", "ZZZZ-9994", "ZZZZ-9995", "ZZZZ-9996", "ZZZZ-9997"]):
        with pytest.raises(NotFound):
            redeem_link_code("facebook", f"bot-{n}", guess)  # each account and each code once: no other limit
    right = issue_link_code(alice.customer_id)
    with pytest.raises(NotAllowed):
        redeem_link_code("facebook", "bot-new", right)
    assert linked_customer("facebook", "bot-new") is None
    with session_scope() as s:  # once the window has passed, linking works again
        s.execute(update(AuditLog).where(AuditLog.field == "link_code_rejected")
                  .values(created_at=utcnow() - timedelta(hours=1)))
    assert redeem_link_code("facebook", "bot-new", right) == alice.customer_id
