"""Custom actions for the Rasa bot (rasa-sdk). Thin adapters: read the tracker, call profiles/ and
recommender/, answer, return events. Business rules live in those packages, not here."""
