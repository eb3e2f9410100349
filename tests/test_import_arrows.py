"""The import arrows of shared/DESIGN.md and docs/CONTRACTS.md, read from the source with ``ast`` (every
``import`` statement, at module level or inside a function):

api/, actions/ -> recommender/, profiles/;  recommender/, analytics/ -> profiles/;  profiles/ -> none of ours;
bot/ (loaded by the Rasa process) -> none of our app packages. Within profiles/, the seeder (``profiles.seed``) and
the model store (``profiles.modelstore``) are leaves no service imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP_PACKAGES = ("profiles", "recommender", "analytics", "actions", "api")
OURS = (*APP_PACKAGES, "bot", "tests", "benchmarks", "scripts")
# package -> the other packages of ours it may import
ALLOWED: dict[str, frozenset[str]] = {
    "profiles": frozenset(),
    "recommender": frozenset({"profiles"}),
    "analytics": frozenset({"profiles"}),
    "actions": frozenset({"profiles", "recommender"}),
    "api": frozenset({"profiles", "recommender"}),
    "bot": frozenset(),
}
# Who may import these modules of profiles/ (beyond the module itself); everyone else may not.
SEEDER_USERS = frozenset({"analytics"})  # segments trains on the seeded customers; synthetic reuses the seed's formats
MODEL_STORE_USERS = frozenset({"recommender", "analytics"})


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every absolute import in a file; ``from a import b`` yields ``a`` and ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_flow_one_way(package: str) -> None:
    assert python_files(package), f"no Python files under {package}/"
    wrong = sorted(
        f"{_where(path, line)} imports {name}"
        for path in python_files(package)
        for line, name in imported_modules(path)
        if (top := name.split(".")[0]) in OURS and top != package and top not in ALLOWED[package]
    )
    assert not wrong, f"{package}/ may import only {sorted(ALLOWED[package]) or 'none of ours'}:\n" + "\n".join(wrong)


def _importers(module: str) -> list[tuple[str, str]]:
    """``(package, place)`` of every import of ``module`` (or anything inside it) outside the module itself."""
    own = ROOT / (module.replace(".", "/") + ".py")
    return sorted(
        (path.relative_to(ROOT).parts[0], _where(path, line))
        for package in ALLOWED
        for path in python_files(package)
        if path != own
        for line, name in imported_modules(path)
        if name == module or name.startswith(module + ".")
    )


def test_no_service_imports_the_seeder() -> None:
    wrong = [place for package, place in _importers("profiles.seed") if package not in SEEDER_USERS]
    assert not wrong, "the demo seeder is a command, not a service: " + ", ".join(wrong)


def test_the_model_store_is_shared_by_the_trainers_only_and_has_no_ml_imports() -> None:
    wrong = [place for package, place in _importers("profiles.modelstore") if package not in MODEL_STORE_USERS]
    assert not wrong, "only recommender/ and analytics/ use the model store: " + ", ".join(wrong)
    heavy = {name.split(".")[0] for _, name in imported_modules(ROOT / "profiles" / "modelstore.py")}
    assert not heavy & {"sklearn", "pandas", "numpy", "sqlalchemy", *OURS}


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from profiles import seed\n    import analytics.batch\n")
    assert {name for _, name in imported_modules(sample)} == {"profiles", "profiles.seed", "analytics.batch"}
