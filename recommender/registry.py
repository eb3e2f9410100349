"""File-system model registry: versions, metadata, the promoted pointer, promotion and rollback.

The versions live in the shared model store (:mod:`profiles.modelstore`, also used by :mod:`analytics.store`).
Layout under ``settings.model_registry`` (one directory per model, named after its task in
:mod:`recommender.tasks`, e.g. ``term_deposit``, ``housing_loan``, ``berka_card_gold``)::

    <model>/<version>/model.joblib    the fitted, calibrated estimator (preprocessing + classifier)
    <model>/<version>/metadata.json   training data sha256 and path, rows, features, metrics, timestamp,
                                      chosen family and why, sklearn version
    <model>/CURRENT                   the promoted version's id (one line)

Versions are UTC timestamps (``20261129T163012Z``), so they sort by age; every model of one training run gets
the same id. Writes are atomic (temporary name, then rename), so a reader never sees half a version or half a
pointer. ``model.joblib`` is a pickle: load only files this registry wrote. The action server and batch
scoring call :func:`load_promoted`, which re-reads the pointer on every call: a promotion or rollback takes
effect without a restart.

Usage::

    python -m recommender.registry list [--product MODEL]
    python -m recommender.registry promote VERSION [--product MODEL]   # every model that has VERSION
    python -m recommender.registry rollback [--product MODEL]          # each model back to its previous version
    python -m recommender.registry check                               # exit 1 unless every model is promoted

Exit status 2 with a message naming the known versions for an unknown version or model.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiles.modelstore import METADATA_FILE as METADATA_FILE
from profiles.modelstore import MODEL_FILE as MODEL_FILE
from profiles.modelstore import ModelNotFound as ModelNotFound
from profiles.modelstore import ModelStore, StoreError
from profiles.settings import get_settings

DEFAULT_PRODUCT = "term_deposit"
TRAIN_COMMAND = "python -m recommender.train"
STORE = ModelStore(lambda: Path(get_settings().model_registry))
# The store's errors under the registry's names: RegistryError (base), ModelNotFound (no such or no promoted version).
RegistryError = StoreError


@dataclass(frozen=True)
class LoadedModel:
    """A promoted model: ``pipeline.predict_proba(X)`` takes a features frame (see ``recommender.features``);
    ``product`` is the model's name (a task of ``recommender.tasks``)."""

    product: str
    version: str
    pipeline: Any
    metadata: dict[str, Any]


_cache: dict[tuple[Path, str, str], LoadedModel] = {}
_lock = threading.Lock()


def root() -> Path:
    """The registry directory, ``settings.model_registry``."""
    return STORE.root()


def new_version_id(product: str = DEFAULT_PRODUCT) -> str:
    """A fresh version id: the UTC time to the second, with ``-2``, ``-3``… if that second is taken."""
    return STORE.new_version([product])


def new_run_version(products: Sequence[str]) -> str:
    """A fresh version id free for every model in ``products`` (one training run shares one id)."""
    return STORE.new_version(products)


def models() -> list[str]:
    """Every model name with at least one version in the registry, sorted."""
    return STORE.models()


def save_version(product: str, pipeline: Any, metadata: dict[str, Any], *, version: str | None = None) -> str:
    """Write a fitted estimator and its metadata as a new version (not promoted); return the version id.

    Args:
        product: the model name (a task of ``recommender.tasks``).
        pipeline: the fitted estimator (``predict_proba`` on a features frame).
        metadata: JSON-serialisable; ``version`` is added to it.
        version: the id to use (a training run's shared id); default a fresh one.

    Raises:
        RegistryError: ``version`` already exists for this model.
    """
    return STORE.save(product, pipeline, metadata, version=version or new_version_id(product))


def list_versions(product: str = DEFAULT_PRODUCT) -> list[str]:
    """Every complete version of ``product``, oldest first (empty if none)."""
    return STORE.list_versions(product)


def promoted_version(product: str = DEFAULT_PRODUCT) -> str | None:
    """The promoted version id of ``product``, or ``None`` if nothing is promoted."""
    return STORE.current(product)


def read_metadata(version: str, product: str = DEFAULT_PRODUCT) -> dict[str, Any]:
    """The ``metadata.json`` of one version.

    Raises:
        ModelNotFound: no such version.
    """
    if version not in list_versions(product):
        raise ModelNotFound(_unknown_version_message(version, product))
    return STORE.read_metadata(product, version)


def promote(version: str, product: str = DEFAULT_PRODUCT) -> None:
    """Make ``version`` the one :func:`load_promoted` serves (also the way to roll back).

    Raises:
        ModelNotFound: ``version`` is not a complete version of ``product``.
    """
    if version not in list_versions(product):
        raise ModelNotFound(_unknown_version_message(version, product))
    STORE.set_current(product, version)


def load_promoted(product: str = DEFAULT_PRODUCT) -> LoadedModel:
    """Load the promoted version of ``product``.

    The pointer file is re-read on every call (a promotion or rollback takes effect without a restart); each
    version is unpickled once per process and cached.

    Raises:
        ModelNotFound: nothing is promoted (message names the training command), or the promoted version's
            files are missing.
    """
    version = promoted_version(product)
    if version is None:
        raise ModelNotFound(f"no promoted {product} model in {root()}; train one with `{TRAIN_COMMAND}`")
    key = (root(), product, version)
    with _lock:
        cached = _cache.get(key)
        if cached is None:
            try:
                stored = STORE.load(product, version)
            except ModelNotFound as exc:
                raise ModelNotFound(
                    f"promoted {exc}; run `{TRAIN_COMMAND}` or `python -m recommender.registry promote VERSION`"
                ) from exc
            cached = LoadedModel(product=product, version=version, pipeline=stored.model, metadata=stored.metadata)
            _cache[key] = cached
    return cached


def rollback(product: str = DEFAULT_PRODUCT) -> str:
    """Promote the version saved just before the promoted one; return it.

    Raises:
        ModelNotFound: nothing is promoted for ``product``.
        RegistryError: the promoted version is the oldest one (nothing to roll back to).
    """
    current = promoted_version(product)
    if current is None:
        raise ModelNotFound(f"no promoted {product} model to roll back; train one with `{TRAIN_COMMAND}`")
    older = STORE.previous(product, current)
    if older is None:
        raise RegistryError(f"{product} version {current} is the oldest; nothing to roll back to")
    promote(older, product)
    return older


def clear_cache() -> None:
    """Forget every loaded model (tests)."""
    with _lock:
        _cache.clear()


def _unknown_version_message(version: str, product: str) -> str:
    known = list_versions(product)
    listing = ", ".join(known) if known else f"none; train one with `{TRAIN_COMMAND}`"
    return f"unknown {product} version {version!r}; known versions: {listing}"


def _list_lines(product: str) -> list[str]:
    current = promoted_version(product)
    lines = []
    for v in list_versions(product):
        meta = read_metadata(v, product)
        holdout = meta.get("metrics", {}).get("holdout", {})
        auc = holdout.get("roc_auc", meta.get("metrics", {}).get("holdout_roc_auc"))
        auc_text = f"held-out AUC {auc:.4f}" if isinstance(auc, float) else ""
        lines.append(f"{'*' if v == current else ' '} {v}  {product}  {meta.get('model', '?')}  {auc_text}".rstrip())
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the process exit status (2 on a registry error)."""
    parser = argparse.ArgumentParser(prog="python -m recommender.registry", description="Model registry.")
    parser.add_argument("--product", default=None, help="one model (default: every model in the registry)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list versions; * marks the promoted one")
    promote_cmd = sub.add_parser("promote", help="promote VERSION of every model that has it")
    promote_cmd.add_argument("version")
    sub.add_parser("rollback", help="promote each model's previous version")
    sub.add_parser("check", help="exit 1 unless every model of recommender.tasks has a promoted version")
    args = parser.parse_args(argv)
    if args.command == "check":
        from recommender.tasks import TASK_NAMES

        missing = [name for name in TASK_NAMES if promoted_version(name) is None]
        if missing:
            print(f"not promoted: {', '.join(missing)}; train with `{TRAIN_COMMAND}`")
            return 1
        print(f"every model is promoted ({', '.join(f'{n} {promoted_version(n)}' for n in TASK_NAMES)})")
        return 0
    names = [args.product] if args.product else models()
    try:
        if args.product and args.product not in models():
            known = ", ".join(models()) or f"none; train them with `{TRAIN_COMMAND}`"
            raise ModelNotFound(f"unknown model {args.product!r}; models in the registry: {known}")
        if args.command == "list":
            lines = [line for name in names for line in _list_lines(name)]
            if not lines:
                print(f"no model versions in {root()}; train them with `{TRAIN_COMMAND}`")
            for line in lines:
                print(line)
        elif args.command == "promote":
            having = [name for name in names if args.version in list_versions(name)]
            if not having:
                if args.product:
                    raise ModelNotFound(_unknown_version_message(args.version, args.product))
                every = sorted({v for name in names for v in list_versions(name)})
                listing = ", ".join(every) if every else f"none; train one with `{TRAIN_COMMAND}`"
                raise ModelNotFound(f"unknown version {args.version!r}; known versions: {listing}")
            for name in having:
                promote(args.version, name)
                print(f"promoted {name} {args.version}")
        else:
            if not names:
                raise ModelNotFound(f"no models in {root()}; train them with `{TRAIN_COMMAND}`")
            for name in names:  # check every model first: all roll back or none
                current = promoted_version(name)
                if current is None or STORE.previous(name, current) is None:
                    rollback(name)  # raises the precise error
            for name in names:
                print(f"rolled back {name} to {rollback(name)}")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
