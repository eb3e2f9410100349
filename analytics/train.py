"""Train the analyses' models and store a new version of each.

Usage::

    python -m analytics.train [--only credit,churn,segments] [--segment-rows N]

Trains credit risk (:mod:`~analytics.credit`, Berka loans), churn (:mod:`~analytics.churn`,
bank-churn data) and segments (:mod:`~analytics.segments`, the seeded customers), writes each under
``settings.analytics_dir`` with a version (UTC timestamp + training-data fingerprint) and its metrics
(:mod:`~analytics.store`), and prints the held-out figures. It also prints the loyalty rule's check on
the churn data. Single-threaded (BLAS/OpenMP limited to one thread: faster on a shared 2-core machine); 20-30 s
in all on 2 shared cores. The rules (behaviour, loyalty, CLV) need no training: their version is a constant in
each module.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from analytics import churn, credit, loyalty, segments, store
from profiles.settings import get_settings

ANALYSES: Final = ("credit", "churn", "segments")
BANK_MARKETING: Final = ("bank_marketing", "bank-full-train.csv")


def train_all(
    only: Sequence[str] = ANALYSES,
    *,
    segment_rows: int = segments.SEED_ROWS,
    progress: Callable[[str], None] = print,
) -> dict[str, str]:
    """Train the analyses named in ``only``; return ``{analysis: new version}``.

    Raises:
        ValueError: an unknown analysis name.
        FileNotFoundError: a source data file is missing.
    """
    unknown = set(only) - set(ANALYSES)
    if unknown:
        raise ValueError(f"unknown analyses: {sorted(unknown)} (choose from {list(ANALYSES)})")
    settings = get_settings()
    data = settings.data_dir
    versions: dict[str, str] = {}
    with threadpool_limits(limits=1):
        if "credit" in only:
            folder = data / credit.DATA_DIR
            model, meta = credit.train(folder, seed=settings.seed, progress=progress)
            sha = store.fingerprint([folder / f for f in credit.DATA_FILES], str(settings.seed).encode())
            versions["credit"] = store.save("credit", model, meta, data_sha256=sha)
        if "churn" in only:
            path = data / churn.DATA_FILE
            model_c, meta = churn.train(path, seed=settings.seed, progress=progress)
            sha = store.fingerprint([path], str(settings.seed).encode())
            versions["churn"] = store.save("churn", model_c, meta, data_sha256=sha)
            check = loyalty.validate_on_churn_data(path)
            progress(f"loyalty rule check: ROC AUC of (100 - loyalty) for Exited = {check['roc_auc']:.4f} "
                     f"on {int(check['rows'])} rows (not fitted)")
        if "segments" in only:
            path = data.joinpath(*BANK_MARKETING)
            started = time.perf_counter()
            frame = segments.seeded_frame(segment_rows, seed=settings.seed, data_file=path)
            progress(f"segments: {len(frame)} seeded customers built in {time.perf_counter() - started:.1f} s")
            model_s, meta = segments.train(frame, seed=settings.seed, progress=progress)
            meta = {**meta, "source": "seeded customers (profiles.seed on UCI Bank Marketing, CC BY 4.0)",
                    "seed_as_of": segments.SEED_AS_OF.isoformat()}
            sha = store.fingerprint([path], f"{settings.seed}:{segment_rows}:{segments.SEED_AS_OF}".encode())
            versions["segments"] = store.save("segments", model_s, meta, data_sha256=sha)
    return versions


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring); returns the exit status (0 ok, 2 refused input)."""
    parser = argparse.ArgumentParser(prog="python -m analytics.train", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--only", default=",".join(ANALYSES), help="comma-separated subset of credit,churn,segments")
    parser.add_argument("--segment-rows", type=int, default=segments.SEED_ROWS,
                        help=f"seeded customers the segments are trained on (default {segments.SEED_ROWS})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        versions = train_all([a.strip() for a in args.only.split(",") if a.strip()], segment_rows=args.segment_rows)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for analysis, version in versions.items():
        print(f"{analysis}: version {version} -> {store.root() / analysis / version}")
    print(f"trained in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
