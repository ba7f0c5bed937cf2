"""Stored GEP/VEP accounts: drafts, publication (immutable, logged), corrections."""
