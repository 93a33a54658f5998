"""HTTP routes of email accounts: `POST /api/accounts/{id}/test` (admin) logs in to the
account's IMAP and SMTP servers and reports each result; no password ever leaves."""

from __future__ import annotations

import asyncio

from aiohttp import web

from server.domain.errors import Forbidden, Invalid
from server.domain.models import ChannelKind, Role
from server.transports.email.config import EmailConfig
from server.transports.email.imap_intake import check_imap
from server.transports.email.smtp_delivery import check_smtp
from server.transports.http_common import context, current_user, json_response


def add_routes(router: web.UrlDispatcher) -> None:
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
    config = EmailConfig.from_account(account)
    imap, smtp = await asyncio.gather(check_imap(config), check_smtp(config))
    return json_response({"imap": _result(imap), "smtp": _result(smtp)})
