"""Demo customers and the credentials ``make run`` shows: development only.

``DEMO_CUSTOMERS`` (ids 1..5) is the one definition of who the demo customers are: the seed gives them rich
data (``profiles.seed``), the web chat's demo log-in accepts only them (``api/routes/chat_page.py``), and in
development ``scripts/run.sh`` prints their 24-hour tokens and an 8-hour staff token
(``python -m profiles.demo --api-port P --rasa-port R`` prints that part of its banner).

Outside ``ENVIRONMENT=development`` there are no demo credentials: ``demo_tokens`` raises ``DemoDisabled``, the
banner prints no token at all and says how an operator mints a staff token on a trusted host, and the chat page
has no demo log-in.
"""

from __future__ import annotations

import argparse
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from profiles.db import session_scope
from profiles.identity import issue_token
from profiles.models import Customer
from profiles.settings import get_settings

DEMO_CUSTOMERS: Final = (1, 2, 3, 4, 5)
DEMO_TOKEN_TTL_MINUTES: Final = 24 * 60
STAFF_TOKEN_TTL_MINUTES: Final = 8 * 60


class DemoDisabled(Exception):
    """Demo credentials were asked for outside ``ENVIRONMENT=development``."""


def demo_enabled() -> bool:
    """True only in ``ENVIRONMENT=development``: the only environment with demo log-in and printed tokens."""
    return get_settings().environment == "development"


def is_demo_customer(customer_id: int) -> bool:
    """True for the documented demo customers (``DEMO_CUSTOMERS``)."""
    return customer_id in DEMO_CUSTOMERS


def demo_tokens(ttl_minutes: int = DEMO_TOKEN_TTL_MINUTES) -> list[tuple[int, str, str]]:
    """Return ``(id, full name, customer token)`` for each demo customer present in the database.

    Raises:
        DemoDisabled: outside development.
        sqlalchemy.exc.SQLAlchemyError: no database or schema.
    """
    if not demo_enabled():
        raise DemoDisabled(f"no demo tokens with ENVIRONMENT={get_settings().environment}")
    with session_scope() as session:
        found = session.execute(
            select(Customer.id, Customer.first_name, Customer.last_name)
            .where(Customer.id.in_(DEMO_CUSTOMERS))
            .order_by(Customer.id)
        ).all()
    return [(r.id, f"{r.first_name} {r.last_name}", issue_token(r.id, ttl_minutes)) for r in found]


def chat_instructions(api_port: int, rasa_port: int) -> str:
    """The "how to chat" part of ``scripts/run.sh``'s banner (lines indented for it, no trailing newline).

    Development: a curl example with demo customer 1's token, every demo customer's token (24 h), the web
    chat's demo log-in link and a staff token (role staff, 8 h). Any other environment: the same places
    without a single credential, and how to mint a staff token on a trusted host instead.
    """
    rest = f"http://localhost:{rasa_port}/webhooks/rest/webhook"
    api = f"http://localhost:{api_port}"
    development = demo_enabled()
    tokens: list[tuple[int, str, str]] = []
    if development:
        try:
            tokens = demo_tokens()
        except SQLAlchemyError:  # no database or schema yet: simply no demo customers
            tokens = []
    first = tokens[0][2] if tokens else "<customer token>"
    lines = [
        " Chat as a customer over the REST channel:",
        "",
        f"   curl -s -X POST {rest} -H 'Content-Type: application/json' \\",
        f"     -d '{{\"sender\": \"demo-1\", \"message\": \"what is my balance?\", \"metadata\": {{\"token\": \"{first}\"}}}}'",
        "",
    ]
    if development:
        lines.append(" Without a token you are an anonymous visitor (FAQ answers only). Demo customer tokens (valid 24 h):")
        if tokens:
            lines += [f"   {cid}  {name}: {token}" for cid, name, token in tokens]
        else:
            lines.append("   (none: the CRM has no demo customers yet; run `make seed`)")
        lines += ["", f" Web chat: {api}/chat  (as demo customer 1: {api}/chat?demo_customer=1)"]
    else:
        env = get_settings().environment
        lines += [
            f" Without a token you are an anonymous visitor (FAQ answers only). ENVIRONMENT={env}: no demo",
            " customers and no token is printed; customer tokens come from the bank's online-banking log-in.",
            "",
            f" Web chat: {api}/chat",
        ]
    lines += [
        f" API docs: {api}/docs",
        " Staff pages (dashboard: segments, churn risk, CLV; a customer's 360 and timeline):",
        f"   {api}/staff  (sign in with a staff token; docs/STAFF_PAGES.md)",
    ]
    if development:
        from profiles.staff import issue_staff_token

        lines += [
            " Staff token (role staff, valid 8 h; `.venv/bin/python -m profiles.staff marketing|admin` for the others);",
            " paste the export line into your shell, then the curl lines work as printed:",
            f"   export STAFF_TOKEN={issue_staff_token('demo-staff', 'staff', STAFF_TOKEN_TTL_MINUTES)}",
        ]
    else:
        lines += [
            " Staff token: none printed outside development; mint one on a trusted host with the production",
            "   JWT_SECRET: export STAFF_TOKEN=$(.venv/bin/python -m profiles.staff staff|marketing|admin [USERNAME])",
        ]
    lines += [
        f"   curl -s {api}/customers/1 -H \"Authorization: Bearer $STAFF_TOKEN\"    # customer 360",
        f"   curl -s {api}/handoffs -H \"Authorization: Bearer $STAFF_TOKEN\"",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m profiles.demo --api-port P --rasa-port R``: print ``chat_instructions``; exit status 0."""
    parser = argparse.ArgumentParser(prog="python -m profiles.demo", description="print run.sh's chat instructions")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--rasa-port", type=int, default=5005)
    args = parser.parse_args(argv)
    print(chat_instructions(args.api_port, args.rasa_port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
