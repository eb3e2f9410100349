"""Offline evaluation of the promoted models: held-out figures per product, ranking over products, calibration.

Usage::

    python -m recommender.evaluate [--data-dir DIR] [--out results/recommender_eval.json]
                                   [--plot results/recommender_eval.png] [--holdout TASK=CSV ...]

For every model in :mod:`recommender.tasks` it loads the **promoted** version, rebuilds the exact held-out part of
its training run (same data, same seed, same sample; the data's SHA-256 is checked against the version's
fingerprint) and measures, next to the popularity baseline (every customer scored with the training positive
rate):

* ROC AUC, lift in the top 10 % (``recommender.train.lift_at``) and Brier score (calibration);
* reliability: mean predicted vs observed rate in ten equal-count bins (the plot's calibration panel).

Ranking over products, on the Berka held-out clients (25 %, never seen in training by any Berka model): every
client's six Berka products are ranked by the six models' probabilities (each model sees the client's *other*
holdings, never the one it predicts), and compared with the products the client holds: precision@1,
precision@3 and MAP@3 over clients holding at least one, against the popularity ranking (products by training
prevalence).

Serving distribution: the CRM's own population (the bank-full rows the CRM is seeded from, mapped through the
serving feature builder as of :data:`SCORED_AT`) scored for each catalogue product: propensity quantiles and the
share that reaches the catalogue threshold (how the thresholds were set).

``--holdout TASK=CSV`` scores every row of another file of the task's format (e.g. the rows held back from us)
and reports it under ``external``.

Writes the JSON and a PNG (matplotlib, Agg backend); prints a summary. Exit status 2 when a model is not
promoted or a file is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from profiles.settings import get_settings
from recommender import registry
from recommender.catalogue import CATALOGUE
from recommender.features import CustomerContext, serving_frames
from recommender.scoring import RULE_PRODUCTS, is_eligible, rule_score
from recommender.tasks import BANK_FULL_FILE, PRODUCT_TASK, TASK_NAMES, TASKS, Task, get_task
from recommender.train import holdout_metrics, load_task_data, sha256_file, split

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "results" / "recommender_eval.json"
DEFAULT_PLOT = ROOT / "results" / "recommender_eval.png"
#: The fixed "now" of the serving-distribution scoring (month and weekday are features of the term deposit).
SCORED_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RANK_K = 3
TARGETS = {"term_deposit": {"roc_auc_min": 0.82, "lift_at_10pct_min": 4.5}}


def baseline_metrics(y: np.ndarray, prior: float) -> dict[str, float]:
    """Popularity baseline on labels ``y``: constant ``prior``. AUC 0.5 and expected lift 1 by definition."""
    return {
        "roc_auc": 0.5,
        "lift_at_10pct": 1.0,
        "brier": float(np.mean((y - prior) ** 2)),
    }


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Mean predicted probability and observed positive rate in ``bins`` equal-count bins of ``p``."""
    order = np.argsort(p, kind="stable")
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    return {
        "predicted": [float(p[c].mean()) for c in chunks],
        "observed": [float(y[c].mean()) for c in chunks],
    }


def _predict(model: Any, X: pd.DataFrame) -> np.ndarray:
    with threadpool_limits(limits=1):
        return np.asarray(model.predict_proba(X)[:, 1], dtype=float)


def _holdout(task: Task, data_dir: Path) -> tuple[registry.LoadedModel, pd.DataFrame, np.ndarray, dict[str, Any]]:
    """The promoted model, its held-out rows, labels and a data note (path, fingerprint check)."""
    model = registry.load_promoted(task.name)
    meta = model.metadata
    path, X, y = load_task_data(task, data_dir, sample=meta.get("sample"), seed=meta.get("seed"))
    fingerprint = sha256_file(path)
    _train_rows, test_rows = split(task, X, y, meta.get("seed", get_settings().seed))
    note = {
        "path": str(path),
        "sha256": fingerprint,
        "matches_training_data": fingerprint == meta.get("data_sha256"),
        "sample": meta.get("sample"),
    }
    return model, X.iloc[test_rows], y[test_rows], note


def evaluate_task(task: Task, data_dir: Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Held-out figures of one task's promoted model: ``(report, y_holdout, p_holdout)``.

    Raises:
        registry.ModelNotFound: not promoted.
        FileNotFoundError: the data file is missing.
    """
    model, X_test, y_test, note = _holdout(task, data_dir)
    p = _predict(model.pipeline, X_test)
    meta = model.metadata
    prior = float(meta["metrics"]["train_base_rate"])
    report = {
        "product": task.product,
        "version": model.version,
        "model": meta.get("model"),
        "calibration": meta.get("calibration"),
        "target": task.target,
        "data": note,
        "holdout_rows": len(y_test),
        "holdout_base_rate": float(y_test.mean()),
        "holdout": holdout_metrics(y_test, p),
        "baseline": baseline_metrics(y_test, prior),
        "cv_roc_auc": meta["metrics"]["cv_roc_auc"],
        "reliability": reliability(y_test, p),
    }
    return report, y_test, p


def average_precision_at(relevant: np.ndarray, ranking: np.ndarray, k: int) -> float:
    """AP@k of one ranking: mean of precision@i at each hit i ≤ k, divided by min(k, number relevant).

    Args:
        relevant: 0/1 array over items.
        ranking: item indices, best first.
        k: cut-off.
    """
    hits, total = 0, 0.0
    for i, item in enumerate(ranking[:k], start=1):
        if relevant[item]:
            hits += 1
            total += hits / i
    denominator = min(k, int(relevant.sum()))
    return total / denominator if denominator else 0.0


def ranking_metrics(holdings: np.ndarray, scores: np.ndarray, k: int = RANK_K) -> dict[str, float]:
    """precision@1, precision@k and MAP@k of ranking items by ``scores`` against 0/1 ``holdings``.

    Args:
        holdings: ``(n_clients, n_items)`` 0/1; rows without any 1 are left out.
        scores: ``(n_clients, n_items)``, higher = ranked first (ties: item order).
        k: cut-off.
    """
    keep = holdings.sum(axis=1) > 0
    holdings, scores = holdings[keep], scores[keep]
    order = np.argsort(-scores, axis=1, kind="stable")
    p1 = float(np.mean([holdings[i, order[i, 0]] for i in range(len(order))]))
    pk = float(np.mean([holdings[i, order[i, :k]].sum() / k for i in range(len(order))]))
    mapk = float(np.mean([average_precision_at(holdings[i], order[i], k) for i in range(len(order))]))
    return {"precision_at_1": p1, f"precision_at_{k}": pk, f"map_at_{k}": mapk, "clients": int(len(order))}


def evaluate_ranking(data_dir: Path) -> dict[str, Any]:
    """Ranking over the Berka products on the held-out clients (module docstring).

    Raises:
        registry.ModelNotFound: a Berka model is not promoted.
    """
    names = [n for n in TASK_NAMES if TASKS[n].family == "berka"]
    holdings, scores, prevalence = [], [], []
    for name in names:
        model, X_test, y_test, _note = _holdout(TASKS[name], data_dir)
        holdings.append(y_test)
        scores.append(_predict(model.pipeline, X_test))
        prevalence.append(float(model.metadata["metrics"]["train_base_rate"]))
    H, S = np.column_stack(holdings), np.column_stack(scores)
    popularity = np.tile(np.asarray(prevalence), (len(H), 1))
    return {
        "data": "Berka held-out clients (25%), products: " + ", ".join(names),
        "k": RANK_K,
        "model": ranking_metrics(H, S),
        "baseline": ranking_metrics(H, popularity),
    }


class _RowProfile:
    """A CRM-like profile built from one bank-full row (the CRM is seeded from these rows)."""

    __slots__ = (
        "age",
        "job",
        "marital",
        "education",
        "credit_default",
        "housing_loan",
        "personal_loan",
        "contact_channel",
    )

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.age = int(row["age"])
        self.job = row["job"]
        self.marital = row["marital"]
        self.education = row["education"]
        self.credit_default = row["default"] == "yes"
        self.housing_loan = row["housing"] == "yes"
        self.personal_loan = row["loan"] == "yes"
        self.contact_channel = row["contact"]


def serving_distribution(data_dir: Path) -> dict[str, Any]:
    """Propensity quantiles of the CRM population per catalogue product and the share reaching the threshold.

    Only customers eligible for the product (``scoring.is_eligible`` with consent) are scored.
    """
    raw = pd.read_csv(data_dir / BANK_FULL_FILE, sep=";")
    contexts = []
    for row in raw.to_dict("records"):
        held = {"current_account"}
        if row["housing"] == "yes":
            held.add("mortgage")
        if row["loan"] == "yes":
            held.add("personal_loan")
        contexts.append(CustomerContext(_RowProfile(row), Decimal(str(row["balance"])), frozenset(held), now=SCORED_AT))
    out: dict[str, Any] = {"population": f"{data_dir / BANK_FULL_FILE} as CRM profiles, scored at {SCORED_AT.date()}"}
    for product_id, product in CATALOGUE.items():
        eligible = [c for c in contexts if is_eligible(product_id, c.customer, consent=True, held=c.held)]
        if product_id in RULE_PRODUCTS:
            p = np.array([rule_score(product_id, c.customer, c.total_balance) for c in eligible])
        else:
            task = get_task(PRODUCT_TASK[product_id])
            model = registry.load_promoted(task.name)
            p = _predict(model.pipeline, serving_frames(task.features, eligible))
        out[product_id] = {
            "scored": len(p),
            "quantiles": {q: float(np.quantile(p, float(q))) if len(p) else None for q in ("0.5", "0.8", "0.9")},
            "threshold": product.threshold,
            "share_passing": float(np.mean(p >= product.threshold)) if len(p) else 0.0,
        }
    return out


def evaluate_external(task: Task, path: Path) -> dict[str, Any]:
    """Score every row of ``path`` (the task's file format) with the promoted model.

    Raises:
        FileNotFoundError, ValueError: from the feature builder.
        registry.ModelNotFound: not promoted.
    """
    model = registry.load_promoted(task.name)
    X, y = task.read(path)
    p = _predict(model.pipeline, X)
    prior = float(model.metadata["metrics"]["train_base_rate"])
    return {
        "path": str(path),
        "rows": len(y),
        "base_rate": float(y.mean()),
        "holdout": holdout_metrics(y, p),
        "baseline": baseline_metrics(y, prior),
    }


def evaluate(
    data_dir: Path | None = None, *, external: Mapping[str, Path] | None = None, serving: bool = True
) -> dict[str, Any]:
    """The whole evaluation as a JSON-serialisable dict (module docstring); see ``tests/recommender`` for its schema.

    Raises:
        registry.ModelNotFound: a model is not promoted.
        FileNotFoundError: a data file is missing.
        KeyError: an unknown task in ``external``.
    """
    data_dir = Path(data_dir) if data_dir is not None else Path(get_settings().data_dir)
    products: dict[str, Any] = {}
    for name in TASK_NAMES:
        report, _y, _p = evaluate_task(TASKS[name], data_dir)
        products[name] = report
    result: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_dir": str(data_dir),
        "products": products,
        "ranking": evaluate_ranking(data_dir),
        "targets": {
            name: {
                **goal,
                "roc_auc": products[name]["holdout"]["roc_auc"],
                "lift_at_10pct": products[name]["holdout"]["lift_at_10pct"],
                "met": products[name]["holdout"]["roc_auc"] >= goal["roc_auc_min"]
                and products[name]["holdout"]["lift_at_10pct"] >= goal["lift_at_10pct_min"],
            }
            for name, goal in TARGETS.items()
        },
    }
    if serving:
        result["serving"] = serving_distribution(data_dir)
    if external:
        result["external"] = {name: evaluate_external(get_task(name), Path(p)) for name, p in external.items()}
    return result


def plot(result: Mapping[str, Any], path: Path) -> None:
    """Write the figure: held-out AUC per model vs baseline, reliability of the product models, ranking metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    products = result["products"]
    names = list(products)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    ax = axes[0]
    y_pos = np.arange(len(names))
    aucs = [products[n]["holdout"]["roc_auc"] for n in names]
    ax.barh(y_pos, aucs, color="#2b6cb0", label="model (calibrated)")
    ax.axvline(0.5, color="#888", linestyle="--", label="popularity baseline (0.5)")
    for i, n in enumerate(names):
        ax.text(
            aucs[i] + 0.005,
            i,
            f"{aucs[i]:.3f}  lift@10% {products[n]['holdout']['lift_at_10pct']:.2f}",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y_pos, [f"{n} ({products[n]['model'].split('_')[0]})" for n in names], fontsize=8)
    ax.set_xlim(0.45, 1.3)
    ax.set_xlabel("held-out ROC AUC")
    ax.set_title("Propensity models, held-out part")
    ax.legend(loc="upper right", fontsize=8)
    ax.invert_yaxis()

    ax = axes[1]
    for n in names:
        if products[n]["product"]:
            rel = products[n]["reliability"]
            ax.plot(
                rel["predicted"],
                rel["observed"],
                marker="o",
                markersize=3,
                label=f"{n} → {products[n]['product']} (Brier {products[n]['holdout']['brier']:.3f})",
            )
    ax.plot([0, 1], [0, 1], color="#888", linestyle="--", linewidth=1)
    ax.set_xlabel("mean predicted probability (decile)")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration of the catalogue models")
    ax.legend(fontsize=7)

    ax = axes[2]
    ranking = result["ranking"]
    keys = [k for k in ranking["model"] if k != "clients"]
    x = np.arange(len(keys))
    ax.bar(x - 0.2, [ranking["model"][k] for k in keys], 0.4, label="models", color="#2b6cb0")
    ax.bar(x + 0.2, [ranking["baseline"][k] for k in keys], 0.4, label="popularity", color="#bbb")
    ax.set_xticks(x, keys)
    ax.set_ylim(0, 1)
    ax.set_title(f"Ranking 6 Berka products, {ranking['model']['clients']} held-out clients")
    ax.legend(fontsize=8)
    fig.suptitle(f"recommender evaluation ({result['generated_at']})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _summary(result: Mapping[str, Any]) -> list[str]:
    lines = [f"{'model':<20} {'product':<14} {'family':<24} {'AUC':>6} {'lift10':>6} {'Brier':>7} {'base Brier':>10}"]
    for name, r in result["products"].items():
        h, b = r["holdout"], r["baseline"]
        lines.append(
            f"{name:<20} {r['product'] or '-':<14} {r['model']:<24} {h['roc_auc']:>6.4f} {h['lift_at_10pct']:>6.2f}"
            f" {h['brier']:>7.4f} {b['brier']:>10.4f}"
        )
    rk = result["ranking"]
    lines.append(f"ranking ({rk['model']['clients']} Berka held-out clients): model {_fmt(rk['model'])}")
    lines.append(f"{'':>40} popularity {_fmt(rk['baseline'])}")
    for name, t in result["targets"].items():
        lines.append(
            f"target {name}: AUC {t['roc_auc']:.4f} (goal {t['roc_auc_min']}), lift@10% {t['lift_at_10pct']:.2f}"
            f" (goal {t['lift_at_10pct_min']}): {'met' if t['met'] else 'NOT met'}"
        )
    return lines


def _fmt(m: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in m.items() if k != "clients")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 when a model or a file is missing)."""
    parser = argparse.ArgumentParser(prog="python -m recommender.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    parser.add_argument("--holdout", action="append", default=[], metavar="TASK=CSV")
    parser.add_argument("--no-serving", action="store_true", help="skip the CRM-population distribution")
    args = parser.parse_args(argv)
    try:
        external = {}
        for item in args.holdout:
            name, sep, path = item.partition("=")
            if not sep:
                raise ValueError(f"--holdout expects TASK=CSV, not {item!r}")
            get_task(name)
            external[name] = Path(path)
        result = evaluate(args.data_dir, external=external, serving=not args.no_serving)
    except (registry.RegistryError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.plot)
    for line in _summary(result):
        print(line)
    print(f"wrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
