"""CRM analyses on the customer profile: value (CLV), credit risk, behaviour, loyalty, segments and churn.

Modules (import the one you need; importing this package loads nothing heavy and opens no connection):

- :mod:`analytics.features` — the one feature builder, CRM tables -> one pandas row per customer;
- :mod:`analytics.behaviour`, :mod:`~analytics.loyalty`, :mod:`~analytics.clv` —
  documented rules on that frame;
- :mod:`analytics.credit` (Berka loans), :mod:`~analytics.churn` (bank-churn data),
  :mod:`~analytics.segments` (k-means on the seeded customers) — trained models; credit and churn pick theirs
  with the one train/CV/pick loop, :func:`analytics.evaluation.pick_model`;
- :mod:`analytics.train` — ``python -m analytics.train`` trains and versions the models (:mod:`analytics.store`,
  on the model store shared with the recommender, :mod:`profiles.modelstore`);
- :mod:`analytics.synthetic` — synthetic profiles from the real distributions, for the batch benchmark;
- :mod:`analytics.batch` — ``python -m analytics.batch`` scores every customer into
  ``customer_scores``; ``score_frame`` / ``score_customers`` for one customer.

Model cards: docs/ANALYTICS.md. A top-level package of model-training code like recommender/: it imports only
profiles/ (and pandas, scikit-learn), and nothing of profiles/, api/ or actions/ imports it — they read the scores
from ``customer_scores`` (tests/test_import_arrows.py).
"""
