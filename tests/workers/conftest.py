"""Fixtures of the worker tests: the web tests' temporary store, its engine and the embedded broker, since the
workers write into the site's store."""

from __future__ import annotations

from tests.web.conftest import broker, engine, postgres_url, settings

__all__ = ["broker", "engine", "postgres_url", "settings"]
