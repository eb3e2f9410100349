"""Staff identity: signed staff tokens (JWT, HS256, audience ``staff``) with a role.

A customer token (no audience) is never accepted as a staff token, nor a staff token as a customer's: PyJWT
refuses a token whose audience does not match the one asked for.

``python -m profiles.staff ROLE [USERNAME]`` prints a token (``profiles/staff/__main__.py``: a package with its
own ``__main__`` so that running it does not re-execute this module, which ``profiles/__init__.py`` imports —
runpy's RuntimeWarning).
"""

from __future__ import annotations

import argparse
from datetime import timedelta

import jwt

from profiles.errors import IdentityError, NotAllowed
from profiles.identity import ALGORITHM, ISSUER
from profiles.models import utcnow
from profiles.schemas import STAFF_ROLES, StaffIdentity
from profiles.settings import get_settings

AUDIENCE = "staff"


def issue_staff_token(username: str, role: str, ttl_minutes: int = 8 * 60) -> str:
    """A signed token for staff member ``username`` with ``role`` (one of ``STAFF_ROLES``), a shift long by default.

    Raises:
        ValueError: unknown role, empty username or ttl_minutes <= 0.
    """
    if role not in STAFF_ROLES or not username or ttl_minutes <= 0:
        raise ValueError(f"need a username, a role in {STAFF_ROLES} and a positive ttl")
    now = utcnow()
    claims = {"sub": username, "role": role, "aud": AUDIENCE, "iss": ISSUER, "iat": now,
              "exp": now + timedelta(minutes=ttl_minutes)}
    return jwt.encode(claims, get_settings().jwt_secret, algorithm=ALGORITHM)


def verify_staff_token(token: str | None, allowed_roles: tuple[str, ...] = STAFF_ROLES) -> StaffIdentity:
    """The staff member behind ``token`` if their role is in ``allowed_roles``.

    Raises:
        IdentityError: missing, malformed, forged, expired or non-staff token (→ 401).
        NotAllowed: a valid staff token whose role may not do this (→ 403).
    """
    if not token:
        raise IdentityError("Staff sign-in required.", detail="missing staff token")
    try:
        claims = jwt.decode(token, get_settings().jwt_secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                            issuer=ISSUER, options={"require": ["sub", "role", "aud", "exp", "iss"]})
    except jwt.InvalidTokenError as exc:
        raise IdentityError("Staff sign-in required.", detail=f"invalid staff token ({type(exc).__name__})") from None
    role, username = claims.get("role"), claims.get("sub")
    if role not in STAFF_ROLES or not isinstance(username, str):
        raise IdentityError("Staff sign-in required.", detail="bad staff claims")
    if role not in allowed_roles:
        raise NotAllowed(f"The {role} role may not do this.")
    return StaffIdentity(username=username, role=role)


def main(argv: list[str] | None = None) -> int:
    """``python -m profiles.staff ROLE [USERNAME]``: print a staff token (for the demo and the API docs)."""
    parser = argparse.ArgumentParser(prog="python -m profiles.staff")
    parser.add_argument("role", choices=STAFF_ROLES)
    parser.add_argument("username", nargs="?", default="demo")
    args = parser.parse_args(argv)
    print(issue_staff_token(f"{args.username}-{args.role}", args.role))
    return 0
