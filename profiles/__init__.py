"""CRM profile store: customers, accounts, cards, consent, audit log (SQLAlchemy 2).

This package imports nothing else of ours; actions/, api/ and recommender/ build on it.
"""
