"""Shared fixtures: the real services (tests/fixtures/services.py), a running server, and
the fakes of the providers we cannot reach."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.server",
    "tests.fixtures.dovecot",
    "tests.fixtures.provider_fakes",
]
