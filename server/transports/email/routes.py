"""HTTP routes of email accounts: `POST /api/accounts/{id}/test` (admin) logs in to the
account's IMAP and SMTP servers and reports each result; `POST /api/accounts/test` does the same
for settings not saved yet (the "Test the connection" step before Save). No password ever
leaves."""

from __future__ import annotations

import asyncio

from aiohttp import web

from server.domain.errors import Forbidden, Invalid
from server.domain.models import ChannelAccount, ChannelKind, Role
from server.records import clean_secrets, clean_settings
from server.transports.email.config import EmailConfig, validate_settings
from server.transports.email.imap_intake import check_imap
from server.transports.email.smtp_delivery import check_smtp
from server.transports.http_common import context, current_user, json_body, json_response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/accounts/test", test_settings)
    router.add_post("/api/accounts/{id}/test", test_account)


def _result(error: str | None) -> dict[str, object]:
    return {"ok": error is None, "error": error}


async def test_account(request: web.Request) -> web.Response:
    """Test an email account's connection (admin): IMAP login + SELECT INBOX, SMTP login."""
    user = await current_user(request)
    if user.role != Role.ADMIN:
        raise Forbidden("Only admins can test channel accounts")
    account = context(request).workspace.account(request.match_info["id"])
    if account.kind != ChannelKind.EMAIL:
        raise Invalid("Only email accounts have a connection to test")
    return await _check(EmailConfig.from_account(account))


async def test_settings(request: web.Request) -> web.Response:
    """Test unsaved email settings (admin): body `{"kind": "email", "settings", "secrets"}`,
    checked like an account's; nothing is stored."""
    user = await current_user(request)
    if user.role != Role.ADMIN:
        raise Forbidden("Only admins can test channel accounts")
    data = await json_body(request)
    if data.get("kind") != ChannelKind.EMAIL.value:
        raise Invalid("Only email accounts have a connection to test")
    secrets = {k: v for k, v in clean_secrets(data.get("secrets", {})).items() if v is not None}
    account = ChannelAccount(id="unsaved", kind=ChannelKind.EMAIL, name="unsaved")
    account.settings = validate_settings(clean_settings(data.get("settings", {})), secrets)
    account.secrets = secrets
    return await _check(EmailConfig.from_account(account))


async def _check(config: EmailConfig) -> web.Response:
    imap, smtp = await asyncio.gather(check_imap(config), check_smtp(config))
    return json_response({"imap": _result(imap), "smtp": _result(smtp)})
