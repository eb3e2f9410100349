"""Plain, frozen data objects returned by profiles/ services (never ORM objects).

Money is always ``Decimal`` in EUR with 2 decimals; datetimes are timezone-aware UTC.
Account and card numbers only ever appear masked (see ``profiles.masking.mask_number``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal

# Catalogue keys shared with recommender/ (docs/CONTRACTS.md).
PRODUCT_IDS: Final = (
    "current_account",
    "savings_account",
    "term_deposit",
    "credit_card",
    "personal_loan",
    "mortgage",
)
# Categories of the UCI bank-marketing data the profiles are seeded from: the values of the profile's job,
# marital and education fields (profiles.profile_update checks them; recommender.features reads them).
JOBS: Final = ("admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired", "self-employed",
               "services", "student", "technician", "unemployed", "unknown")
MARITAL: Final = ("married", "single", "divorced")
EDUCATION: Final = ("primary", "secondary", "tertiary", "unknown")
# The profile's region: the NUTS II regions of Portugal (profiles.profile_update checks it; the seeders in
# profiles.seed and analytics.synthetic draw from these, with their own population weights and cities).
REGIONS: Final = ("Norte", "Centro", "Área Metropolitana de Lisboa", "Alentejo", "Algarve",
                  "Região Autónoma dos Açores", "Região Autónoma da Madeira")
OfferOutcome = Literal["shown", "accepted", "declined"]
OFFER_OUTCOMES: Final = ("shown", "accepted", "declined")
CONTACT_FIELDS: Final = ("email", "phone", "address")
BLOCK_REASONS: Final = ("lost", "stolen")


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    address: str
    age: int
    job: str
    marital: str
    education: str
    credit_default: bool
    housing_loan: bool
    personal_loan: bool
    contact_channel: str
    region: str
    marketing_consent: bool

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    kind: str  # current | savings | term_deposit
    name: str
    masked_number: str
    balance: Decimal  # EUR; may be negative (overdrawn)
    currency: str


@dataclass(frozen=True, slots=True)
class TransactionView:
    id: int
    account_id: int
    booked_at: datetime
    amount: Decimal  # EUR, negative = money out
    merchant: str | None
    description: str


@dataclass(frozen=True, slots=True)
class PayeeView:
    id: int
    name: str
    masked_iban: str


@dataclass(frozen=True, slots=True)
class CardView:
    id: int
    kind: str  # debit | credit
    masked_number: str
    status: str  # active | blocked


@dataclass(frozen=True, slots=True)
class TransferResult:
    transfer_id: int
    amount: Decimal  # EUR
    from_account: AccountView  # balance after the transfer
    to_name: str
    to_account: AccountView | None  # the customer's own destination account, None for a payee


@dataclass(frozen=True, slots=True)
class ContactChange:
    field: str
    old_value: str
    new_value: str

    @property
    def changed(self) -> bool:
        return self.old_value != self.new_value


@dataclass(frozen=True, slots=True)
class HandoffView:
    id: int
    status: str  # open | taken | closed (profiles/live_handoff.py)
    created_at: datetime
    customer_id: int | None = None  # None for an anonymous visitor
    sender_id: str = ""
    channel: str = ""
    reason: str = ""  # the customer's last messages, card/IBAN numbers masked, at most 200 characters


@dataclass(frozen=True, slots=True)
class LeadView:
    """An accepted product suggestion: an advisor should contact the customer."""

    customer_id: int
    product: str
    channel: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """A verified staff member: ``role`` is one of ``STAFF_ROLES``."""

    username: str
    role: str


STAFF_ROLES: Final = ("staff", "marketing", "admin")


@dataclass(frozen=True, slots=True)
class CreditCardView:
    """A credit card's limit and what is owed (EUR, 2 decimals), number masked (profiles/card_billing.py)."""

    id: int
    masked_number: str
    status: str  # active | blocked
    credit_limit: Decimal
    balance: Decimal  # owed now
    available: Decimal  # credit_limit - balance, never negative
    statement_balance: Decimal  # the last statement's balance still unpaid
    minimum_due: Decimal  # the last statement's minimum payment still unpaid
    statement_due: date | None


@dataclass(frozen=True, slots=True)
class CardPaymentResult:
    """A credit-card bill paid: the card and the source account after the payment."""

    payment_id: int
    amount: Decimal  # EUR
    card: CreditCardView
    from_account: AccountView


@dataclass(frozen=True, slots=True)
class AccountDetails:
    """What a customer needs to receive money into an account. ``iban`` is the FULL number: only for the
    verified owner's own eyes, never for logs or staff views (``masked_number`` is for those)."""

    id: int
    kind: str
    name: str
    holder: str
    iban: str  # grouped by 4 ("PT50 0002 ...")
    bic: str
    masked_number: str
