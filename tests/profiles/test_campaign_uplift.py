"""Uplift math against published values: Newcombe (1998), "Interval estimation for the difference between
independent proportions", Statistics in Medicine 17, table II, method 10 (hybrid score)."""

from __future__ import annotations

import math

import pytest

from profiles.campaigns.uplift import compare, newcombe, wilson


@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "low", "high"), [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
])
def test_newcombe_interval_matches_the_paper(x1: int, n1: int, x2: int, n2: int, low: float, high: float) -> None:
    got = newcombe(x1, n1, x2, n2)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_of_a_known_case() -> None:
    # Newcombe (1998) companion paper on single proportions: 81/263 -> 0.2553 to 0.3662
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)


def test_compare_gives_the_pooled_z_test() -> None:
    u = compare(56, 70, 48, 80)
    pooled = 104 / 150
    z = (0.8 - 0.6) / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert u.z == pytest.approx(z) and u.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert u.significant and u.uplift == pytest.approx(0.2)
    none = compare(10, 100, 10, 100)
    assert none.uplift == 0 and not none.significant and none.ci_low < 0 < none.ci_high


def test_compare_refuses_impossible_counts_and_handles_empty_groups() -> None:
    with pytest.raises(ValueError, match="between 0"):
        compare(5, 4, 0, 10)
    empty = compare(3, 10, 0, 0)
    assert empty.p_value is None and not empty.significant
