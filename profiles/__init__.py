"""CRM profile store: customers, accounts, cards, consent, audit log (SQLAlchemy 2).

This package imports nothing else of ours; actions/, api/ and recommender/ build on it. Callers use the
services re-exported here (``from profiles import transfer``); each opens its own session and returns plain
frozen dataclasses from ``profiles.schemas``, never ORM objects. Expected failures raise
``profiles.errors.ProfileError`` subclasses whose ``user_message`` is safe to show the customer.
Importing this package opens no database connection.
"""

from profiles.accounts import list_accounts, list_payees, list_transactions, transactions_summary
from profiles.cards import block_card, list_cards
from profiles.consent import has_marketing_consent, set_marketing_consent
from profiles.contact import normalise_contact, update_contact
from profiles.conversation_ref import conversation_ref
from profiles.customers import get_customer, products_held
from profiles.db import (
    get_engine,
    get_sessionmaker,
    init_db,
    reset_engine,
    session_scope,
)
from profiles.errors import (
    Conflict,
    IdentityError,
    InsufficientFunds,
    InvalidInput,
    LimitExceeded,
    NotAllowed,
    NotFound,
    ProfileError,
)
from profiles.handoff import create_handoff, list_handoffs
from profiles.identity import issue_token, verify_token
from profiles.masking import mask_number, redact
from profiles.offers import last_offer_outcome, latest_offer_event, list_leads, record_offer
from profiles.schemas import (
    PRODUCT_IDS,
    AccountView,
    CardView,
    ContactChange,
    CustomerView,
    HandoffView,
    LeadView,
    PayeeView,
    StaffIdentity,
    TransactionView,
    TransferResult,
)
from profiles.staff import issue_staff_token, verify_staff_token
from profiles.transfers import (
    AlreadyExecuted,
    MadeTransfer,
    find_transfer,
    remaining_daily_limit,
    transfer,
    validate_amount,
)

__all__ = [
    "PRODUCT_IDS",
    "AccountView",
    "CardView",
    "Conflict",
    "ContactChange",
    "CustomerView",
    "HandoffView",
    "LeadView",
    "StaffIdentity",
    "IdentityError",
    "InsufficientFunds",
    "InvalidInput",
    "LimitExceeded",
    "NotAllowed",
    "NotFound",
    "PayeeView",
    "ProfileError",
    "TransactionView",
    "TransferResult",
    "block_card",
    "conversation_ref",
    "create_handoff",
    "list_handoffs",
    "list_leads",
    "issue_staff_token",
    "verify_staff_token",
    "get_customer",
    "get_engine",
    "get_sessionmaker",
    "has_marketing_consent",
    "init_db",
    "issue_token",
    "last_offer_outcome",
    "latest_offer_event",
    "list_accounts",
    "list_cards",
    "list_payees",
    "list_transactions",
    "mask_number",
    "normalise_contact",
    "products_held",
    "redact",
    "record_offer",
    "remaining_daily_limit",
    "reset_engine",
    "session_scope",
    "set_marketing_consent",
    "transactions_summary",
    "transfer",
    "AlreadyExecuted",
    "MadeTransfer",
    "find_transfer",
    "update_contact",
    "validate_amount",
    "verify_token",
]
