"""Customer lifetime value (CLV) in EUR: the expected margin of the next years, discounted.

Formula (per customer)::

    m   = annual margin, EUR/year (below)
    r   = 1 - churn_probability           # yearly retention, from analytics.churn
    d   = DISCOUNT_RATE = 0.08            # per year
    H   = HORIZON_YEARS = 5
    CLV = sum_{t=1..H} m * r**t / (1 + d)**t

    m = DEPOSIT_MARGIN   * max(balance_total_eur, 0)             # 1.5 %/year net interest margin on deposits
      + PERSONAL_SPREAD  * personal_loans_outstanding_eur        # 4.0 %/year
      + MORTGAGE_SPREAD  * mortgages_outstanding_eur             # 1.2 %/year
      - LGD * annual_pd  * loans_outstanding_eur                 # expected credit loss per year
      + CARD_MARGIN      * n_credit_cards                        # 40 EUR/year (fees + interchange)
      + ACCOUNT_FEE      * has_current_account                   # 60 EUR/year (5 EUR/month maintenance)
      + INSURANCE_COMMISSION * 12 * insurance_premium_monthly_eur  # 25 % of premiums
      - COST_TO_SERVE                                            # 30 EUR/year
    annual_pd = 1 - (1 - credit_default_probability) ** (1 / LOAN_YEARS)   # LOAN_YEARS = 3

Inputs and units: balances and outstanding amounts in EUR (features), churn probability in [0, 1] per year,
credit default probability in [0, 1] over a loan's life (Berka loans average about 3 years, hence
``LOAN_YEARS``), LGD = 0.45 (the Basel II foundation-IRB loss given default for senior unsecured exposures;
used for mortgages too, which overstates their loss). Output: EUR, rounded to cents; it can be negative
(a customer who costs more to serve than they bring).

Every rate above is an Atlantic Bank planning assumption in the range Portuguese retail banks report, not a
figure fitted to data: CLV ranks customers by value; it is not an accounting number. A missing churn or credit
probability is replaced by its portfolio default (:data:`DEFAULT_CHURN`, :data:`DEFAULT_PD`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

VERSION: Final = "clv-formula-1"
DISCOUNT_RATE: Final = 0.08
HORIZON_YEARS: Final = 5
DEPOSIT_MARGIN: Final = 0.015
PERSONAL_SPREAD: Final = 0.04
MORTGAGE_SPREAD: Final = 0.012
LGD: Final = 0.45
LOAN_YEARS: Final = 3.0
CARD_MARGIN: Final = 40.0
ACCOUNT_FEE: Final = 60.0
INSURANCE_COMMISSION: Final = 0.25
COST_TO_SERVE: Final = 30.0
DEFAULT_CHURN: Final = 0.20  # the bank-churn data's exit rate
DEFAULT_PD: Final = 0.11  # the Berka loans' default rate


def annual_margin(frame: pd.DataFrame, credit_default_probability: pd.Series) -> np.ndarray:
    """``m`` of the module formula, EUR/year, one value per row of a feature frame."""
    pd_life = credit_default_probability.fillna(DEFAULT_PD).clip(0, 1).to_numpy(dtype=float)
    annual_pd = 1.0 - (1.0 - pd_life) ** (1.0 / LOAN_YEARS)
    margin = (
        DEPOSIT_MARGIN * frame["balance_total_eur"].clip(lower=0).to_numpy(dtype=float)
        + PERSONAL_SPREAD * frame["personal_loans_outstanding_eur"].to_numpy(dtype=float)
        + MORTGAGE_SPREAD * frame["mortgages_outstanding_eur"].to_numpy(dtype=float)
        - LGD * annual_pd * frame["loans_outstanding_eur"].to_numpy(dtype=float)
        + CARD_MARGIN * frame["n_credit_cards"].to_numpy(dtype=float)
        + ACCOUNT_FEE * frame["has_current_account"].to_numpy(dtype=float)
        + INSURANCE_COMMISSION * 12.0 * frame["insurance_premium_monthly_eur"].to_numpy(dtype=float)
        - COST_TO_SERVE
    )
    return np.asarray(margin, dtype=float)


def discounted_factor(retention: np.ndarray) -> np.ndarray:
    """``sum_{t=1..H} r**t / (1 + d)**t`` for each retention ``r`` in [0, 1]."""
    q = np.clip(np.asarray(retention, dtype=float), 0, 1) / (1.0 + DISCOUNT_RATE)
    return np.asarray(sum(q**t for t in range(1, HORIZON_YEARS + 1)), dtype=float)


def clv(frame: pd.DataFrame, churn_probability: pd.Series, credit_default_probability: pd.Series) -> pd.Series:
    """CLV in EUR (rounded to cents) per row of a feature frame; see the module formula.

    Args:
        frame: feature frame (:mod:`analytics.features`).
        churn_probability: yearly probability of leaving, same index (NaN -> :data:`DEFAULT_CHURN`).
        credit_default_probability: same index (NaN -> :data:`DEFAULT_PD`).
    """
    retention = 1.0 - churn_probability.fillna(DEFAULT_CHURN).clip(0, 1).to_numpy(dtype=float)
    value = annual_margin(frame, credit_default_probability) * discounted_factor(retention)
    return pd.Series(np.round(value, 2), index=frame.index, name="clv")
