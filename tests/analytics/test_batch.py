"""Batch scoring on both backends: one row per customer with versions, idempotent re-runs, bounded chunks."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from analytics import batch, store
from analytics.batch import Models, run, score_customers
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotFound
from profiles.models import Account, CustomerScore
from profiles.seed import seed
from profiles.settings import get_settings

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def _scores() -> dict[int, CustomerScore]:
    with session_scope() as s:
        return {r.customer_id: r for r in s.scalars(select(CustomerScore).order_by(CustomerScore.customer_id))}


def test_batch_writes_one_row_per_customer_with_versions_and_is_idempotent(db: Engine, models: Models) -> None:
    seed(30, as_of=date(2026, 1, 1), progress=False)
    report = run(7, progress=False, as_of=AS_OF, models=models)
    assert (report.customers, report.chunks, report.max_chunk_rows) == (30, 5, 7)
    first = _scores()
    assert sorted(first) == list(range(1, 31))
    for row in first.values():
        assert row.model_versions == models.versions
        assert set(row.model_versions) == {"credit", "churn", "segments", "clv", "loyalty", "behaviour"}
        assert row.computed_at == AS_OF
        assert row.credit_band in set("ABCDE") and row.churn_band in ("low", "medium", "high")
        assert row.segment in models.segments.model.names and row.loyalty_tier
        assert row.clv is not None and 0 <= (row.churn_probability or -1) <= 1
        assert row.recency_days is None and row.channel_mix == {}  # seeded customers have not talked to us yet

    later = datetime(2026, 1, 2, tzinfo=UTC)
    again = run(100, progress=False, as_of=later, models=models)
    assert (again.customers, again.chunks) == (30, 1)
    second = _scores()
    assert len(second) == 30
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(CustomerScore)) == 30
    for cid, row in second.items():
        assert row.computed_at == later
        assert row.segment == first[cid].segment and row.product_count == first[cid].product_count


def test_score_customers_recomputes_one_customer(db: Engine, models: Models) -> None:
    seed(3, as_of=date(2026, 1, 1), progress=False)
    run(10, progress=False, as_of=AS_OF, models=models)
    before = _scores()[2]
    with session_scope() as s:
        s.add(Account(customer_id=2, kind="term_deposit", name="Term deposit", number="PT50099900000000000000777",
                      balance=Decimal("25000.00")))
    scores = score_customers([2], as_of=AS_OF, models=models)
    assert list(scores.index) == [2]
    after = _scores()
    assert after[2].product_count == scores.loc[2, "product_count"]
    assert after[2].clv is not None and before.clv is not None and after[2].clv > before.clv
    assert after[1].computed_at == AS_OF  # others untouched

    preview = score_customers([1], as_of=datetime(2026, 3, 1, tzinfo=UTC), models=models, write=False)
    assert preview.loc[1, "segment"] and _scores()[1].computed_at == AS_OF


def test_a_batch_run_keeps_the_previous_churn_probability(db: Engine, models: Models) -> None:
    """What the churn-crossing campaign trigger reads: each run moves the churn score it replaces into
    ``previous_churn_probability`` with the run's time; the same run again and a one-customer rescore keep it."""
    seed(5, as_of=date(2026, 1, 1), progress=False)
    run(10, progress=False, as_of=AS_OF, models=models)
    first = _scores()
    assert all(r.previous_churn_probability is None and r.batch_run_at == AS_OF for r in first.values())
    with session_scope() as s:  # as if an older model had scored customer 1 lower
        s.execute(update(CustomerScore).where(CustomerScore.customer_id == 1).values(churn_probability=0.01))
    later = datetime(2026, 1, 2, tzinfo=UTC)
    run(2, progress=False, as_of=later, models=models)
    run(10, progress=False, as_of=later, models=models)  # the same run again: previous values kept
    second = _scores()
    assert second[1].previous_churn_probability == 0.01
    for cid in range(2, 6):
        assert second[cid].previous_churn_probability == first[cid].churn_probability
    assert all(r.batch_run_at == later for r in second.values())
    score_customers([2], as_of=datetime(2026, 1, 3, tzinfo=UTC), models=models)  # not a batch run
    third = _scores()[2]
    assert (third.previous_churn_probability, third.batch_run_at) == (second[2].previous_churn_probability, later)
    assert third.computed_at == datetime(2026, 1, 3, tzinfo=UTC)


def test_unknown_customer_and_bad_chunk_are_refused(db: Engine, models: Models) -> None:
    with pytest.raises(NotFound):
        score_customers([999_999], models=models)
    with pytest.raises(InvalidInput) as refused:
        score_customers(range(1, batch.MAX_IDS + 2), models=models)
    assert refused.value.field == "customer_ids"
    with pytest.raises(ValueError, match="chunk"):
        run(0, progress=False, models=models)
    assert batch.main(["--chunk", "0", "--no-progress"]) == 2
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(CustomerScore)) == 0


def test_load_models_reads_the_configured_directory(
    db: Engine, models: Models, analytics_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = batch.load_models(reload=True)
    assert loaded.versions == models.versions and batch.load_models() is loaded  # cached
    monkeypatch.setenv("ANALYTICS_DIR", str(tmp_path / "empty"))
    get_settings.cache_clear()
    with pytest.raises(store.ModelMissing):
        batch.load_models()
    monkeypatch.setenv("ANALYTICS_DIR", str(analytics_dir))
    get_settings.cache_clear()
    assert batch.load_models().versions == models.versions


def test_empty_database_scores_nothing(db: Engine, models: Models) -> None:
    report = run(5, progress=False, models=models)
    assert (report.customers, report.chunks) == (0, 0)


def _peak(chunk: int, models: Models, expected: int) -> int:
    tracemalloc.start()
    try:
        report = run(chunk, progress=False, as_of=AS_OF, models=models)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.customers == expected and report.max_chunk_rows == min(chunk, expected)
    return peak


def test_memory_is_bounded_by_the_chunk(sqlite_db: Engine, models: Models) -> None:
    """Peak Python memory follows the chunk, not the table: 10x the customers at the same chunk costs about the
    same peak, while a chunk holding the whole table costs clearly more (at 300 customers the fixed overhead
    hid the difference under load: 10x keeps it well apart)."""
    seed(100, as_of=date(2026, 1, 1), progress=False)
    run(100, progress=False, as_of=AS_OF, models=models)  # warm caches (SQL compilation, sklearn)
    small_table = _peak(20, models, 100)
    seed(1000, as_of=date(2026, 1, 1), progress=False)  # adds rows 101..1000
    big_table = _peak(20, models, 1000)
    whole_table = _peak(1000, models, 1000)
    print(f"peak bytes: chunk 20 of 100 {small_table}, chunk 20 of 1000 {big_table}, chunk 1000 of 1000 {whole_table}")
    assert big_table < 1.5 * small_table
    assert whole_table > 2 * big_table


def test_the_command_scores_every_customer(sqlite_db: Engine, models: Models) -> None:
    """``python -m analytics.batch`` end to end in its own process (settings from the environment)."""
    import os
    import subprocess
    import sys

    seed(12, as_of=date(2026, 1, 1), progress=False)
    env = {**os.environ, "DATABASE_URL": str(sqlite_db.url.render_as_string(hide_password=False))}
    done = subprocess.run([sys.executable, "-m", "analytics.batch", "--chunk", "5"], env=env,
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "scored 12 customers in 3 chunks" in done.stdout
    assert "scoring" in done.stderr  # the tqdm progress bar
    assert set(_scores()) == set(range(1, 13))
    assert all(r.model_versions == models.versions for r in _scores().values())
