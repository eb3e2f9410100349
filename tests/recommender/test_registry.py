"""Registry: versions, promotion and rollback, clear errors, the per-process cache and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender import registry
from recommender.registry import ModelNotFound, RegistryError
from recommender.tasks import TASK_NAMES


def test_load_promoted_without_a_model_names_the_command(empty_registry: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"python -m recommender\.train"):
        registry.load_promoted()
    assert registry.list_versions() == [] and registry.models() == []


def test_every_model_is_in_the_registry(model_registry: Path) -> None:
    assert registry.models() == sorted(TASK_NAMES)


def test_promote_unknown_version_is_a_clear_error(model_registry: Path) -> None:
    (known,) = registry.list_versions()
    with pytest.raises(ModelNotFound, match=rf"unknown term_deposit version '19990101T000000Z'.*{known}"):
        registry.promote("19990101T000000Z")
    assert registry.promoted_version() == known  # unchanged


def test_promote_and_roll_back(model_registry: Path) -> None:
    (first,) = registry.list_versions()
    model = registry.load_promoted()
    second = registry.save_version("term_deposit", model.pipeline, {"note": "retrained"})
    assert registry.list_versions() == [first, second]
    assert registry.load_promoted().version == first  # saving does not promote

    registry.promote(second)
    promoted = registry.load_promoted()
    assert promoted.version == second and promoted.metadata["note"] == "retrained"

    assert registry.rollback() == first  # without a restart
    assert registry.load_promoted().version == first
    with pytest.raises(RegistryError, match="oldest"):
        registry.rollback()
    assert registry.load_promoted().version == first


def test_a_version_id_cannot_be_overwritten(model_registry: Path) -> None:
    (version,) = registry.list_versions()
    with pytest.raises(RegistryError, match="already exists"):
        registry.save_version("term_deposit", registry.load_promoted().pipeline, {}, version=version)


def test_load_promoted_is_cached_per_version(model_registry: Path) -> None:
    assert registry.load_promoted() is registry.load_promoted()


def test_versions_in_the_same_second_do_not_collide(model_registry: Path) -> None:
    pipeline = registry.load_promoted().pipeline
    a = registry.save_version("term_deposit", pipeline, {})
    b = registry.save_version("term_deposit", pipeline, {})
    assert a != b and {a, b} <= set(registry.list_versions())


def test_a_promoted_version_with_missing_files_is_a_clear_error(model_registry: Path) -> None:
    version = registry.promoted_version()
    assert version is not None
    (model_registry / "term_deposit" / version / "model.joblib").unlink()
    with pytest.raises(ModelNotFound, match="model.joblib"):
        registry.load_promoted()


def test_cli_list_promote_and_rollback_every_model(model_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (first,) = registry.list_versions()
    assert registry.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(TASK_NAMES) and all(line.startswith(f"* {first}") for line in lines)

    for name in TASK_NAMES:  # a second training run
        registry.save_version(name, registry.load_promoted(name).pipeline, {}, version="29990101T000000Z")
    assert registry.main(["promote", "29990101T000000Z"]) == 0
    assert capsys.readouterr().out.count("promoted ") == len(TASK_NAMES)
    assert {registry.promoted_version(n) for n in TASK_NAMES} == {"29990101T000000Z"}

    assert registry.main(["rollback"]) == 0
    assert capsys.readouterr().out.count("rolled back ") == len(TASK_NAMES)
    assert {registry.promoted_version(n) for n in TASK_NAMES} == {first}

    assert registry.main(["--product", "mortgage_model", "list"]) == 2
    assert "unknown model 'mortgage_model'" in capsys.readouterr().err


def test_cli_errors_change_nothing(model_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (first,) = registry.list_versions()
    assert registry.main(["promote", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown version 'nope'" in err and first in err
    assert registry.main(["--product", "term_deposit", "promote", "nope"]) == 2
    assert "unknown term_deposit version 'nope'" in capsys.readouterr().err
    assert registry.main(["rollback"]) == 2  # only one version: nothing to roll back to, nothing changed
    assert "nothing to roll back" in capsys.readouterr().err
    assert {registry.promoted_version(n) for n in TASK_NAMES} == {first}


def test_cli_list_on_an_empty_registry(empty_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert registry.main(["list"]) == 0
    assert "python -m recommender.train" in capsys.readouterr().out
    assert registry.main(["rollback"]) == 2
    assert "python -m recommender.train" in capsys.readouterr().err


def test_check_says_whether_every_model_is_promoted(model_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert registry.main(["check"]) == 0
    assert "every model is promoted" in capsys.readouterr().out
    (model_registry / "berka_leasing" / "CURRENT").unlink()
    assert registry.main(["check"]) == 1
    assert "not promoted: berka_leasing" in capsys.readouterr().out
