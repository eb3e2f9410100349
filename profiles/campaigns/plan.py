"""Planning: turn a campaign's audience into its delivery log, once.

``plan_campaign`` selects the audience, fixes the control group and the A/B arms at that moment, and writes one
``CampaignDelivery`` row per recipient in one transaction: ``control`` rows are final at once (they get
nothing), the others are ``queued`` in numbered batches of ``settings.campaign_batch_size``. The assignment is
stratified by segment: in each segment, ``control_pct`` percent (rounded) is held out at random and the rest is
cut into the arms by their splits, so each group has the audience's segment mix (a fraction of a customer is
rounded up at random with its probability, so many small strata, e.g. a trigger's event days, keep the shares
on average: ``_share``; the draw depends on the stratum's members, so a dry run counts as planning does). The
random order is seeded by
the campaign and step, so planning the same audience twice gives the same groups. A second call finds the rows
and writes nothing (the unique delivery key would refuse them anyway).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from profiles.campaigns.delivery import PENDING
from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.campaigns.recurrence import occurrence_step
from profiles.campaigns.spec import CampaignSpec
from profiles.campaigns.store import _event, audience_select
from profiles.db import session_scope
from profiles.errors import Conflict, NotFound
from profiles.models import utcnow
from profiles.settings import get_settings

CONTROL = "control"


@dataclass(frozen=True, slots=True)
class Plan:
    """The planned step: ``batches`` with queued recipients (numbers), ``treated`` / ``control`` counts, and
    ``created`` False when the step had been planned before (nothing written this time)."""

    campaign_id: int
    step: int
    batches: tuple[int, ...]
    treated: int
    control: int
    created: bool


def assign_groups(rows: list[tuple[int, str | None]], spec: CampaignSpec, seed: str) -> dict[int, str]:
    """Customer id -> group (a variant name or ``control``) for ``rows`` of (customer id, segment), stratified
    by segment (module docstring). Deterministic for a given ``seed``."""
    rng = random.Random(seed)
    strata: dict[str | None, list[int]] = defaultdict(list)
    for customer_id, segment in rows:
        strata[segment].append(customer_id)
    groups: dict[int, str] = {}
    for segment in sorted(strata, key=lambda s: (s is None, s or "")):
        ids = sorted(strata[segment])
        # the rounding draws depend on who is in the stratum, not on the seed: the dry run and the planning of the
        # same audience hold out as many; different occurrences (other customers) round independently
        draws = random.Random(f"{segment}:{','.join(map(str, ids))}")
        rng.shuffle(ids)
        n_control = _share(len(ids) * spec.control_pct, draws.random())
        for cid in ids[:n_control]:
            groups[cid] = CONTROL
        treated = ids[n_control:]
        start = 0
        cumulative = 0
        cut = draws.random()  # one draw for every boundary of the stratum: the boundaries stay in order
        for i, variant in enumerate(spec.variants):
            cumulative += variant.split
            end = len(treated) if i == len(spec.variants) - 1 else _share(len(treated) * cumulative, cut)
            for cid in treated[start:end]:
                groups[cid] = variant.name
            start = end
    return groups


def _share(percent_of_customers: int, draw: float) -> int:
    """``percent_of_customers`` / 100 customers, a fraction rounded up with its own probability (``draw`` in
    [0, 1)): exact on average however small the stratum (rounding to nearest held out nobody in a stratum of
    five or fewer at 10%, and gave a lone treated customer always to the last arm), exact for a whole number.
    Integer arithmetic: no float error turns 135 into 134."""
    whole, rest = divmod(percent_of_customers, 100)
    return whole + (1 if draw * 100 < rest else 0)


AudienceFilter = Callable[[CampaignSpec, list[int]], set[int]]


def narrow(audience: list[tuple[int, str | None]], spec: CampaignSpec,
           audience_filter: AudienceFilter | None) -> list[tuple[int, str | None]]:
    """``audience`` rows (customer id, segment) kept by ``audience_filter`` (the recommender's propensity filter,
    ``api.campaign_gates.propensity_filter``, which profiles/ may not import), when the spec has a propensity.

    Raises:
        Conflict: the spec filters by propensity and no filter was given.
    """
    if spec.audience.propensity is None:
        return audience
    if audience_filter is None:
        raise Conflict("A propensity audience is planned by the campaign worker (it needs the recommender).")
    keep = audience_filter(spec, [c for c, _ in audience])
    return [row for row in audience if row[0] in keep]


def plan_campaign(campaign_id: int, *, step: int = 0, actor: str = "system", now: datetime | None = None,
                  audience_filter: AudienceFilter | None = None) -> Plan:
    """Plan ``step`` of a ``scheduled`` (or already ``running``) campaign and mark it ``running``; idempotent.

    A recurring campaign plans its due occurrence instead (``scheduled_at`` <= ``now``, state ``scheduled`` or
    ``running``): the step is the occurrence's (``recurrence.occurrence_step``) and, in the same transaction,
    ``scheduled_at`` moves to the next occurrence after ``now`` (None after the end date), so an occurrence is
    planned once however many sweeps or workers see it; occurrences missed while no worker ran are not caught
    up (one run, then the next future one). Nothing due: an empty plan (``created`` False, step -1).

    ``audience_filter``: the propensity filter (``narrow``), needed when the audience has a ``propensity``.

    Raises:
        NotFound: no such campaign.
        Conflict: the campaign is a draft, paused or done and was never planned; a propensity audience without
            ``audience_filter``.
    """
    moment = now or utcnow()
    batch_size = max(1, get_settings().campaign_batch_size)
    with session_scope(write=True) as session:
        row = session.get(Campaign, campaign_id, with_for_update=True)
        if row is None:
            raise NotFound("No such campaign.", detail=f"campaign {campaign_id}")
        spec = CampaignSpec.model_validate(row.spec, context={"stored": True})
        recurring = spec.schedule.kind == "recurring"
        if recurring:
            if row.state not in ("scheduled", "running") or row.scheduled_at is None or row.scheduled_at > moment:
                return Plan(campaign_id, -1, (), 0, 0, False)
            occurrence = row.scheduled_at
            step = occurrence_step(occurrence)
            row.scheduled_at = spec.schedule.next_run(max(occurrence, moment))
        existing = session.execute(
            select(CampaignDelivery.batch, CampaignDelivery.status)
            .where(CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.step == step)).all()
        if existing:
            queued = sorted({b for b, s in existing if s in PENDING})
            n_control = sum(1 for _, s in existing if s == CONTROL)
            return Plan(campaign_id, step, tuple(queued), len(existing) - n_control, n_control, False)
        if row.state != "scheduled" and not recurring:
            raise Conflict(f"A {row.state} campaign cannot be planned.")
        audience = [(int(c), s) for c, s in session.execute(audience_select(spec)).all()]
        audience = narrow(audience, spec, audience_filter)
        groups = assign_groups(audience, spec, seed=f"{campaign_id}:{step}")
        segments = dict(audience)
        values = []
        treated_index = 0
        for customer_id in sorted(groups):
            group = groups[customer_id]
            is_control = group == CONTROL
            values.append({
                "campaign_id": campaign_id, "customer_id": customer_id, "step": step, "variant": group,
                "stratum": segments.get(customer_id), "batch": -1 if is_control else treated_index // batch_size,
                "status": CONTROL if is_control else "queued",
                "reason": "control group: held out, nothing sent" if is_control else None,
                "attempts": 0, "queued_at": moment, "updated_at": moment,
            })
            treated_index += 0 if is_control else 1
        if values:  # Core executemany (insertmanyvalues: 1,000 rows a statement); the ORM bulk path is 10x slower
            table: Any = CampaignDelivery.__table__
            session.connection().execute(insert(table), values)
        n_control = len(values) - treated_index
        before, row.state = row.state, "running"
        row.planned_at = row.planned_at or moment  # a recurring campaign's uplift window opens at its first run
        row.audience_size = len(values)
        what = f"planned {len(values)}: {treated_index} treated, {n_control} control"
        if recurring:
            upcoming = row.scheduled_at.isoformat() if row.scheduled_at else "none (end date)"
            what = f"occurrence {occurrence.isoformat()} (step {step}) {what}; next {upcoming}"
        _event(session, campaign_id, actor, "start" if before == "scheduled" else "occurrence", before, "running",
               what[:200])
        batches = tuple(range((treated_index + batch_size - 1) // batch_size))
    return Plan(campaign_id, step, batches, treated_index, n_control, True)
