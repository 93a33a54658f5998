"""Replies leave through the API channel's webhook: signed, retried, and their status tracked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from server.domain.models import ChannelAccount
from server.transports.api_channel import SIGNATURE_HEADER, verify
from tests.fixtures.server import LiveServer, start_live_server, stop_live_server
from tests.fixtures.services import free_port


@dataclass
class Receiver:
    """The external system: answers with the scripted statuses, records what it got."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    box = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        box.signatures_ok.append(
            verify("shop-hook-secret", body, request.headers.get(SIGNATURE_HEADER, ""))
        )
        box.received.append(orjson.loads(body))
        box.got.set()
        status = box.answers.pop(0) if box.answers else 200
        if status == 200:
            return web.json_response({"provider_message_id": f"ext-{len(box.received)}"})
        return web.json_response({"error": "nope"}, status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield box
    finally:
        await runner.cleanup()


@pytest.fixture
async def live_with_hook(tmp_path: Path, receiver: Receiver) -> AsyncIterator[LiveServer]:
    live = await start_live_server(tmp_path / "data")
    account = await live.server.store.get(ChannelAccount, "acc_shop")
    assert account is not None
    account.settings["webhook_url"] = receiver.url
    await live.server.store.put(account)
    live.server.workspace.remember_account(account)
    try:
        yield live
    finally:
        await stop_live_server(live)


async def _reply(live: LiveServer, text: str) -> tuple[Any, str]:
    alice = await live.connect("alice")
    _, first = await live.inbound("pat@example.com", "Any news?", f"p-{text}")
    ack = await alice.call(
        "message.send", {"conversation_id": first["conversation_id"], "text": text}
    )
    assert ack["ok"], ack
    return alice, ack["message"]["id"]


async def test_a_reply_is_posted_signed_and_marked_sent(
    live_with_hook: LiveServer, receiver: Receiver
) -> None:
    alice, message_id = await _reply(live_with_hook, "Shipped today")
    update = await alice.wait_for(
        lambda n, d: n == "message.status" and d["data"]["message_id"] == message_id
    )
    assert update[0]["data"]["status"] == "sent"
    assert receiver.signatures_ok == [True]
    payload = receiver.received[0]
    assert payload["message"]["text"] == "Shipped today"
    assert payload["to"]["id"] == "pat@example.com"
    stored = await live_with_hook.server.store.message(message_id)
    assert stored is not None and stored.provider_message_id == "ext-1"


async def test_a_failing_webhook_is_retried_until_it_accepts(
    live_with_hook: LiveServer, receiver: Receiver
) -> None:
    receiver.answers = [503, 500]
    alice, message_id = await _reply(live_with_hook, "Retry me")
    update = await alice.wait_for(
        lambda n, d: n == "message.status" and d["data"]["message_id"] == message_id,
        timeout=15,
    )
    assert update[0]["data"]["status"] == "sent"
    assert len(receiver.received) == 3  # two refusals, then accepted: delivered once
    assert {r["message"]["id"] for r in receiver.received} == {message_id}


async def test_a_refused_reply_is_failed_with_the_reason(
    live_with_hook: LiveServer, receiver: Receiver
) -> None:
    receiver.answers = [422]
    alice, message_id = await _reply(live_with_hook, "Refuse me")
    update = await alice.wait_for(
        lambda n, d: n == "message.status" and d["data"]["message_id"] == message_id
    )
    assert update[0]["data"]["status"] == "failed"
    assert "422" in update[0]["data"]["reason"]
    assert len(receiver.received) == 1  # a 4xx is final: not retried


async def test_status_reports_only_move_forward(live_with_hook: LiveServer) -> None:
    alice, message_id = await _reply(live_with_hook, "Track me")
    await alice.wait_for(lambda n, d: n == "message.status" and d["data"]["status"] == "sent")
    url = f"{live_with_hook.url}/channels/api/acc_shop/statuses"
    headers = {"Authorization": f"Bearer {live_with_hook.shop_token}"}
    for status in ("read", "delivered"):
        async with live_with_hook.http.post(
            url, json={"message_id": message_id, "status": status}, headers=headers
        ) as response:
            assert response.status < 300, await response.text()
    await alice.wait_for(lambda n, d: n == "message.status" and d["data"]["status"] == "read")
    await asyncio.sleep(0.2)
    statuses = [e["data"]["status"] for e in alice.of_type("message.status")]
    assert statuses == ["sent", "read"]  # the late "delivered" is ignored
    stored = await live_with_hook.server.store.message(message_id)
    assert stored is not None and stored.status == "read"
