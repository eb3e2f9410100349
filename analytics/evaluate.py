"""Score the stored churn model on a CSV it has never seen: ``python -m analytics.evaluate FILE``.

FILE has the columns of ``bank_churn/Churn_Modelling-train.csv`` (``Exited`` included), e.g. rows held back
by the data's owners. Prints and returns the ROC AUC with its 95% bootstrap interval and the Brier score of the
current churn version under ``ANALYTICS_DIR`` (train it first: ``python -m analytics.train``).
Exit status 2 with a message when the file or the model is missing or the file lacks a column.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from analytics import churn, store
from analytics.evaluation import held_out_metrics


def evaluate_churn(path: Path, version: str | None = None) -> dict[str, Any]:
    """ROC AUC (with 95% bootstrap interval), Brier score and row counts of the churn model on ``path``.

    Raises:
        FileNotFoundError: no such file.
        KeyError: a column the model needs is missing.
        ValueError: the file holds only one class (AUC undefined).
        store.ModelMissing: no trained churn model (or no such version).
    """
    stored = store.load(churn.ANALYSIS, version)
    inputs, target = churn.load_data(path)
    if len(set(target.tolist())) < 2:
        raise ValueError(f"{path} holds only one class of {churn.TARGET}: ROC AUC is undefined")
    probability = stored.model.predict(inputs)
    figures = held_out_metrics(target, probability, seed=0)
    return {"file": str(path), "model_version": stored.version, **figures, "positives": int(target.sum()),
            "roc_auc_95ci": list(figures["roc_auc_95ci"])}


def main(argv: list[str] | None = None) -> int:
    """Command line: print the figures as JSON; exit 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m analytics.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path, help="CSV with the churn data's columns, Exited included")
    parser.add_argument("--version", help="churn model version (default: the current one)")
    args = parser.parse_args(argv)
    try:
        result = evaluate_churn(args.file, args.version)
    except (FileNotFoundError, KeyError, ValueError, store.ModelMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
