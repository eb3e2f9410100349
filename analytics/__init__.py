"""CRM analyses on the customer profile: value (CLV), credit risk, behaviour, loyalty, segments and churn.

Modules (import the one you need; importing this package loads nothing heavy and opens no connection):

- :mod:`analytics.features` — the one feature builder, CRM tables -> one pandas row per customer;
- :mod:`analytics.behaviour`, :mod:`~analytics.loyalty`, :mod:`~analytics.clv` —
  documented rules on that frame;
- :mod:`analytics.credit` (Berka loans), :mod:`~analytics.churn` (bank-churn data),
  :mod:`~analytics.segments` (k-means on the seeded customers) — trained models;
- :mod:`analytics.train` — ``python -m analytics.train`` trains and versions the models;
- :mod:`analytics.synthetic` — synthetic profiles from the real distributions, for the batch benchmark;
- :mod:`analytics.batch` — ``python -m analytics.batch`` scores every customer into
  ``customer_scores``; ``score_frame`` / ``score_customers`` for one customer.

Model cards: docs/ANALYTICS.md. This package imports only profiles/ (and pandas, scikit-learn).
"""
