"""Alembic revisions of the web store, one file each."""
