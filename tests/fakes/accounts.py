"""WhatsApp accounts on a live test server, created through the admin API like an admin would,
pointing at the fakes."""

from __future__ import annotations

from typing import Any

from tests.fakes.graph import FakeGraph
from tests.fakes.twilio import FakeTwilio
from tests.fixtures.server import LiveServer

GRANTS = [{"user_id": "usr_alice"}, {"user_id": "usr_bob"}]


async def create_cloud_account(live: LiveServer, graph: FakeGraph) -> dict[str, Any]:
    status, body = await live.api(
        "POST",
        "/api/accounts",
        await live.token("admin"),
        {
            "kind": "whatsapp",
            "name": "Shop WhatsApp",
            "settings": {
                "provider": "cloud",
                "phone_number_id": graph.phone_number_id,
                "waba_id": graph.waba_id,
                "graph_base_url": graph.url,
                "api_version": "v21.0",
            },
            "secrets": {
                "access_token": graph.access_token,
                "app_secret": graph.app_secret,
                "verify_token": "verify-me-please",
            },
            "authorized": GRANTS,
        },
    )
    assert status == 201, body
    account: dict[str, Any] = body["account"]
    return account


async def create_twilio_account(live: LiveServer, twilio: FakeTwilio) -> dict[str, Any]:
    token = await live.token("admin")
    status, body = await live.api(
        "POST",
        "/api/accounts",
        token,
        {
            "kind": "whatsapp",
            "name": "Shop Twilio",
            "settings": {
                "provider": "twilio",
                "account_sid": twilio.account_sid,
                "sender": twilio.sender,
                "base_url": twilio.url,
                # Known only once the id is: set right below, as an admin would.
                "webhook_url": "https://example.invalid/pending",
            },
            "secrets": {"auth_token": twilio.auth_token},
            "authorized": GRANTS,
        },
    )
    assert status == 201, body
    account: dict[str, Any] = body["account"]
    settings = {**account["settings"], "webhook_url": twilio_hook(live, account["id"])}
    status, body = await live.api(
        "PATCH", f"/api/accounts/{account['id']}", token, {"settings": settings}
    )
    assert status == 200, body
    updated: dict[str, Any] = body["account"]
    return updated


def cloud_hook(live: LiveServer, account_id: str) -> str:
    return f"{live.url}/channels/whatsapp/{account_id}/webhook"


def twilio_hook(live: LiveServer, account_id: str) -> str:
    return f"{live.url}/channels/twilio/{account_id}/webhook"
