"""Tokens: issued and verified with the settings' secret; every bad token is an IdentityError."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from profiles import IdentityError, issue_token, verify_token
from profiles.settings import get_settings
from tests.profiles.conftest import Built


def _claims(sub: str, **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {"sub": sub, "iat": now, "exp": now + timedelta(minutes=5), "iss": "atlantic-bank"}
    claims.update(overrides)
    return claims


def test_valid_token_round_trip(alice: Built) -> None:
    token = issue_token(alice.customer_id)
    assert verify_token(token) == alice.customer_id
    claims = jwt.decode(token, get_settings().jwt_secret, algorithms=["HS256"], issuer="atlantic-bank")
    assert claims["sub"] == str(alice.customer_id)
    assert claims["exp"] - claims["iat"] == get_settings().jwt_ttl_minutes * 60


def test_ttl_comes_from_settings_or_argument(alice: Built, override_settings: Callable[..., None]) -> None:
    override_settings(jwt_ttl_minutes=7)
    secret = get_settings().jwt_secret
    claims = jwt.decode(issue_token(alice.customer_id), secret, algorithms=["HS256"], issuer="atlantic-bank")
    assert claims["exp"] - claims["iat"] == 7 * 60
    claims = jwt.decode(issue_token(alice.customer_id, 24 * 60), secret, algorithms=["HS256"],
                        issuer="atlantic-bank")
    assert claims["exp"] - claims["iat"] == 24 * 3600


def test_expired_token(alice: Built) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    token = jwt.encode(_claims(str(alice.customer_id), iat=past, exp=past + timedelta(hours=1)),
                       get_settings().jwt_secret, algorithm="HS256")
    with pytest.raises(IdentityError) as err:
        verify_token(token)
    assert "expired" in err.value.user_message


def test_forged_with_another_secret(alice: Built) -> None:
    token = jwt.encode(_claims(str(alice.customer_id)), "another-secret-of-at-least-32-characters!!",
                       algorithm="HS256")
    with pytest.raises(IdentityError):
        verify_token(token)


def test_secret_rotation_invalidates_tokens(alice: Built, override_settings: Callable[..., None]) -> None:
    token = issue_token(alice.customer_id)
    override_settings(jwt_secret="a-brand-new-secret-for-this-test-0123456789")
    with pytest.raises(IdentityError):
        verify_token(token)


@pytest.mark.parametrize("token", [None, "", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."])
def test_garbage(db: object, token: str | None) -> None:
    with pytest.raises(IdentityError):
        verify_token(token)


def test_unsigned_wrong_issuer_or_missing_claims(alice: Built) -> None:
    secret = get_settings().jwt_secret
    bad = [
        jwt.encode(_claims(str(alice.customer_id)), None, algorithm="none"),
        jwt.encode(_claims(str(alice.customer_id), iss="someone-else"), secret, algorithm="HS256"),
        jwt.encode({"sub": str(alice.customer_id), "iss": "atlantic-bank"}, secret, algorithm="HS256"),
        jwt.encode(_claims("not-a-number"), secret, algorithm="HS256"),
        jwt.encode(_claims("-1"), secret, algorithm="HS256"),
        jwt.encode(_claims(str(alice.customer_id)), secret, algorithm="HS512"),
    ]
    for token in bad:
        with pytest.raises(IdentityError):
            verify_token(token)


def test_unknown_customer(db: object) -> None:
    with pytest.raises(IdentityError):
        verify_token(issue_token(424242))


def test_issue_token_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        issue_token(0)
    with pytest.raises(ValueError):
        issue_token(1, ttl_minutes=0)


@pytest.mark.parametrize(
    "sub",
    ["²", "¹²", "٣", "１", "1²", "0", "01", "+1", "-1", " 1", "1 ", "1_0", "1.0", "", "2147483648", "9" * 19],
)
def test_signed_token_with_a_non_ascii_or_odd_subject_is_an_identity_error(alice: Built, sub: str) -> None:
    """Correctly signed, but ``sub`` is not plain ASCII digits: refused as IdentityError (never ValueError → 500)."""
    token = jwt.encode(_claims(sub), get_settings().jwt_secret, algorithm="HS256")
    with pytest.raises(IdentityError):
        verify_token(token)


@pytest.mark.parametrize("sub", ["2147483647", "999999999"])
def test_signed_token_for_a_large_unknown_id_is_an_identity_error(db: object, sub: str) -> None:
    """The largest INTEGER id is looked up (no DataError on PostgreSQL) and refused as unknown."""
    token = jwt.encode(_claims(sub), get_settings().jwt_secret, algorithm="HS256")
    with pytest.raises(IdentityError):
        verify_token(token)
