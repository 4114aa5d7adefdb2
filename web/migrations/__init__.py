"""Alembic migrations of the web store (see README.md); upgrade_store in web/migrate.py runs them."""
