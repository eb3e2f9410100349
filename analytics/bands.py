"""Named bands over a number (churn risk, credit band, loyalty tier): one lookup for every analysis."""

from __future__ import annotations

from collections.abc import Sequence


def band_of(value: float, bands: Sequence[tuple[str, float]]) -> str:
    """The label of the highest floor ``value`` reaches; ``bands`` are ``(label, floor)`` pairs, floors ascending.
    A value below every floor gets the first label."""
    name = bands[0][0]
    for label, floor in bands:
        if value >= floor:
            name = label
    return name
