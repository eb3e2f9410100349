"""Balance and transaction actions against a real seeded CRM database."""

from typing import Any

import jwt
import pytest

from actions.accounts import ActionShowBalance, ActionShowTransactions
from actions.parsing import money
from profiles import issue_token, list_accounts, list_transactions, transactions_summary
from tests.actions.conftest import make_tracker, run_action, texts

pytestmark = pytest.mark.usefixtures("crm")


def test_balance_lists_every_account_with_database_figures(domain: dict[str, Any]) -> None:
    _, messages = run_action(ActionShowBalance(), make_tracker("what's my balance", "check_balance", token=issue_token(1)), domain)
    said = texts(messages)
    accounts = list_accounts(1)
    assert len(accounts) >= 2
    for account in accounts:
        assert f"{account.masked_number}: {money(account.balance)}" in said


def test_balance_of_one_account_type(domain: dict[str, Any]) -> None:
    tracker = make_tracker(
        "how much is in my savings", "check_balance", token=issue_token(1),
        entities=[{"entity": "account_type", "value": "savings_account"}],
    )
    said = texts(run_action(ActionShowBalance(), tracker, domain)[1])
    savings = [a for a in list_accounts(1) if a.kind == "savings"]
    assert savings and money(savings[0].balance) in said
    current = [a for a in list_accounts(1) if a.kind == "current"][0]
    assert current.masked_number not in said


@pytest.mark.parametrize(
    "token",
    [
        None,
        "not-a-jwt",
        jwt.encode({"sub": "1", "exp": 4102444800, "iss": "atlantic-bank"}, "another-secret-of-sufficient-length-xx", algorithm="HS256"),
    ],
    ids=["anonymous", "garbage", "forged"],
)
def test_balance_needs_a_valid_token(domain: dict[str, Any], token: str | None) -> None:
    _, messages = run_action(ActionShowBalance(), make_tracker("balance", "check_balance", token=token), domain)
    assert messages == [m for m in messages if m.get("response") == "utter_login_required"] and messages
    assert "€" not in texts(messages)


def test_sender_id_is_not_an_identity(domain: dict[str, Any]) -> None:
    tracker = make_tracker("balance", "check_balance")
    tracker.sender_id = "1"
    _, messages = run_action(ActionShowBalance(), tracker, domain)
    assert messages[0].get("response") == "utter_login_required"


def test_transactions_filtered_by_merchant(domain: dict[str, Any]) -> None:
    merchant = next(t.merchant for t in list_transactions(1, limit=50) if t.merchant)
    tracker = make_tracker(
        f"what did I spend at {merchant}", "show_transactions", token=issue_token(1),
        entities=[{"entity": "merchant", "value": merchant}],
    )
    said = texts(run_action(ActionShowTransactions(), tracker, domain)[1])
    lines = [line for line in said.splitlines() if line.startswith("•")]
    assert lines and all(merchant in line for line in lines)
    count, total = transactions_summary(1, merchant=merchant)
    assert f"Total of all {count}: {money(total)}" in said


def test_transactions_for_an_empty_period(domain: dict[str, Any]) -> None:
    tracker = make_tracker("transactions yesterday at Nowhere", "show_transactions", token=issue_token(1),
                           entities=[{"entity": "merchant", "value": "Nowhere Ltd"}])
    said = texts(run_action(ActionShowTransactions(), tracker, domain)[1])
    assert said.startswith("I found no transactions")
