"""Recurring campaigns: a cron-like rule, its next run time, and the step number of an occurrence.

The rule is the usual five fields ``minute hour day month day_of_week`` (``"0 9 * * 1"``: Mondays 09:00), read
with **huey's own ``crontab``** (``strict=True``), the parser of the worker's periodic sweep: no new package,
the same accepted syntax (``*``, ``*/n``, ``a-b``, ``a-b/n``, ``a,b``; day of week 0 or 7 = Sunday) and the same
meaning (every field must match, also day *and* day of week). huey only answers "does this minute match", so
``next_run`` reads each field's allowed values once from it and walks days, hours and minutes (at most five
years ahead: a rule matching no date in that span, like 31 February, is refused). The rule is read in the
bank's time zone (``settings.push_timezone``, as quiet hours); times are stored in UTC.

Each occurrence is its own ``step`` of the delivery key ``(campaign, customer, step)``: the minute of the
occurrence counted from 2020-01-01 UTC, so the same occurrence always has the same step (a second planning of
it finds its rows and writes nothing) and a new occurrence never collides with an old one.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from huey import crontab

from profiles.settings import get_settings

EPOCH: Final = datetime(2020, 1, 1, tzinfo=UTC)
HORIZON_DAYS: Final = 5 * 366
FIELDS: Final = ("minute", "hour", "day", "month", "day_of_week")


@lru_cache(maxsize=256)
def parse_rule(rule: str) -> tuple[frozenset[int], ...]:
    """(minutes, hours, days, months, weekdays with Sunday = 0) allowed by ``rule``.

    Raises:
        ValueError: not five fields, or a field huey's crontab refuses (the message names the field).
    """
    parts = (rule or "").split()
    if len(parts) != 5:
        raise ValueError("a rule has five fields: minute hour day month day_of_week (e.g. '0 9 * * 1')")
    probes = {  # field -> (values, the datetime probing each value): 2024-01-07 is a Sunday
        "minute": (range(60), lambda v: datetime(2024, 1, 1, 0, v)),
        "hour": (range(24), lambda v: datetime(2024, 1, 1, v, 0)),
        "day": (range(1, 32), lambda v: datetime(2024, 1, v)),
        "month": (range(1, 13), lambda v: datetime(2024, v, 1)),
        "day_of_week": (range(7), lambda v: datetime(2024, 1, 7 + v)),
    }
    allowed = []
    for name, value in zip(FIELDS, parts, strict=True):
        try:
            matches = crontab(**{name: value}, strict=True)
        except ValueError as exc:
            raise ValueError(f"{name} {value!r}: {exc}") from None
        values, probe = probes[name]
        allowed.append(frozenset(v for v in values if matches(probe(v))))
    return tuple(allowed)


def next_run(rule: str, after: datetime, *, until: datetime | None = None) -> datetime | None:
    """The first time strictly after ``after`` that ``rule`` matches (UTC, whole minute), or None when there is
    none before ``until`` (or within five years).

    Raises:
        ValueError: see ``parse_rule``.
    """
    minutes, hours, days, months, weekdays = parse_rule(rule)
    zone = ZoneInfo(get_settings().push_timezone)
    start = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    start_utc = after.astimezone(UTC)
    day = start.date()
    for _ in range(HORIZON_DAYS):
        if day.month in months and day.day in days and (day.weekday() + 1) % 7 in weekdays:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    local = datetime.combine(day, time(hour, minute))
                    if local < start:
                        continue
                    moment = local.replace(tzinfo=zone).astimezone(UTC)
                    if moment <= start_utc:
                        continue
                    if until is not None and moment > until:
                        return None
                    return moment
        day += timedelta(days=1)
        if until is not None and datetime.combine(day, time()).replace(tzinfo=zone) > until:
            return None
    return None


def occurrence_step(occurrence: datetime) -> int:
    """The delivery-log step of the occurrence at ``occurrence``: minutes since 2020-01-01 UTC (>= 1)."""
    return max(1, int((occurrence.astimezone(UTC) - EPOCH).total_seconds() // 60))

