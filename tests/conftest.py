"""Shared fixtures: the real services (tests/fixtures/services.py) and a running server."""

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.server", "tests.fixtures.dovecot"]
