"""CRM analyses on the customer profile: value (CLV), credit risk, behaviour, loyalty, segments and churn.

Modules (import the one you need; importing this package loads nothing heavy and opens no connection):

- :mod:`profiles.analytics.features` — the one feature builder, CRM tables -> one pandas row per customer;
- :mod:`profiles.analytics.behaviour`, :mod:`~profiles.analytics.loyalty`, :mod:`~profiles.analytics.clv` —
  documented rules on that frame;
- :mod:`profiles.analytics.credit` (Berka loans), :mod:`~profiles.analytics.churn` (bank-churn data),
  :mod:`~profiles.analytics.segments` (k-means on the seeded customers) — trained models;
- :mod:`profiles.analytics.train` — ``python -m profiles.analytics.train`` trains and versions the models;
- :mod:`profiles.analytics.synthetic` — synthetic profiles from the real distributions, for the batch benchmark;
- :mod:`profiles.analytics.batch` — ``python -m profiles.analytics.batch`` scores every customer into
  ``customer_scores``; ``score_frame`` / ``score_customers`` for one customer.

Model cards: docs/ANALYTICS.md. This package imports only profiles/ (and pandas, scikit-learn).
"""
