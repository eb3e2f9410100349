"""Custom actions for the Rasa bot (rasa-sdk). Thin adapters: read the tracker, call profiles/ and
recommender/, answer, return events. Business rules live in those packages, not here."""

from actions import ratelimit as _ratelimit  # noqa: E402,F401 - wraps the action executor (chat rate limit)
