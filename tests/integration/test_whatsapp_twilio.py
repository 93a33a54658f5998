"""WhatsApp through Twilio, end to end: a real server, the fake Twilio API posting signed
form webhooks and receiving our sends, agents on Socket.IO."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from server.actors.account import contact_id_for, conversation_id_for
from tests.fakes.accounts import create_twilio_account, twilio_hook
from tests.fakes.twilio import FakeTwilio, twilio_error
from tests.fixtures.server import LiveServer, start_live_server, stop_live_server

CUSTOMER = "+5511987654321"
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 128


@pytest.fixture
async def tw(tmp_path: Path, twilio: FakeTwilio) -> AsyncIterator[tuple[LiveServer, str]]:
    live = await start_live_server(tmp_path / "data")
    try:
        account = await create_twilio_account(live, twilio)
        yield live, account["id"]
    finally:
        await stop_live_server(live)


async def test_inbound_text_and_media_reach_the_agent_once(
    tw: tuple[LiveServer, str], twilio: FakeTwilio
) -> None:
    live, account_id = tw
    alice = await live.connect("alice")
    url = twilio_hook(live, account_id)
    text = twilio.inbound(CUSTOMER, "Olá, tem a peça?", name="Marina")
    status, answer = await twilio.deliver(url, text)
    assert status == 200 and "<Response>" in answer
    status, _ = await twilio.deliver(
        url, twilio.inbound(CUSTOMER, "", media=[(JPEG, "image/jpeg")])
    )
    assert status == 200
    await alice.wait_for(
        lambda n, d: n == "message.created" and d["data"]["message"]["attachments"]
    )
    first, second = [e["data"]["message"] for e in alice.of_type("message.created")]
    assert first["text"] == "Olá, tem a peça?" and first["sender"]["name"] == "Marina"
    assert second["attachments"][0]["size"] == len(JPEG)

    status, _ = await twilio.deliver(url, text)  # Twilio retried: stored once
    assert status == 200
    token = await live.token("alice")
    _, page = await live.api(
        "GET", f"/api/conversations/{first['conversation_id']}/messages", token
    )
    assert len(page["messages"]) == 2


async def test_a_forged_signature_is_refused_logged_and_stores_nothing(
    tw: tuple[LiveServer, str], twilio: FakeTwilio
) -> None:
    live, account_id = tw
    url = twilio_hook(live, account_id)
    params = twilio.inbound(CUSTOMER, "Forged")
    with capture_logs() as logs:
        status, _ = await twilio.deliver(url, params, signature="bm90IGEgc2lnbmF0dXJl")
        assert status == 401
        # Signed for another URL: also refused (the URL is part of what Twilio signs).
        status, _ = await twilio.deliver(url, params, signature=twilio.sign(url + "x", params))
        assert status == 401
    assert [e["event"] for e in logs].count("whatsapp.bad_signature") == 2
    assert twilio.auth_token not in orjson.dumps(logs, default=str).decode()
    token = await live.token("alice")
    _, listed = await live.api("GET", f"/api/conversations?tab=all&account_id={account_id}", token)
    assert listed["conversations"] == []
    status, _ = await twilio.deliver(url, twilio.inbound(CUSTOMER, "Real"))
    assert status == 200
    _, listed = await live.api("GET", f"/api/conversations?tab=all&account_id={account_id}", token)
    assert [c["last_message_preview"] for c in listed["conversations"]] == ["Real"]


async def test_a_reply_goes_out_with_basic_auth_and_ticks_follow_status_callbacks(
    tw: tuple[LiveServer, str], twilio: FakeTwilio
) -> None:
    live, account_id = tw
    url = twilio_hook(live, account_id)
    await twilio.deliver(url, twilio.inbound(CUSTOMER, "Preciso de ajuda"))
    conversation_id = conversation_id_for(account_id, contact_id_for("whatsapp", CUSTOMER))
    alice = await live.connect("alice")
    twilio.fail_next(429, twilio_error(20429, "Too Many Requests", 429), **{"Retry-After": "1"})
    ack = await alice.call("message.send", {"conversation_id": conversation_id, "text": "Claro!"})
    assert ack["ok"], ack
    message_id = ack["message"]["id"]
    await alice.wait_for(
        lambda n, d: n == "message.status" and d["data"]["status"] == "sent", timeout=10
    )
    assert len(twilio.sent) == 2  # refused once with 429, then accepted
    form = twilio.sent[-1]
    assert form == {
        "From": twilio.sender,
        "To": f"whatsapp:{CUSTOMER}",
        "Body": "Claro!",
        "StatusCallback": url,
    }
    assert twilio.received[-1].authorization.startswith("Basic ")
    stored = await live.server.store.message(message_id)
    assert stored is not None and stored.provider_message_id
    sid = stored.provider_message_id
    assert sid.startswith("SM")
    for tick in ("delivered", "read", "delivered"):
        status, _ = await twilio.deliver(url, twilio.status(sid, tick, CUSTOMER))
        assert status == 200
    await alice.wait_for(lambda n, d: n == "message.status" and d["data"]["status"] == "read")
    assert [e["data"]["status"] for e in alice.of_type("message.status")] == [
        "sent",
        "delivered",
        "read",
    ]


async def test_a_refusal_shows_twilios_reason_and_a_failed_callback_too(
    tw: tuple[LiveServer, str], twilio: FakeTwilio
) -> None:
    live, account_id = tw
    url = twilio_hook(live, account_id)
    await twilio.deliver(url, twilio.inbound(CUSTOMER, "Oi"))
    conversation_id = conversation_id_for(account_id, contact_id_for("whatsapp", CUSTOMER))
    alice = await live.connect("alice")
    twilio.fail_next(400, twilio_error(63016, "Failed to send freeform message", 400))
    ack = await alice.call("message.send", {"conversation_id": conversation_id, "text": "A"})
    refused = await alice.wait_for(
        lambda n, d: n == "message.status" and d["data"]["message_id"] == ack["message"]["id"]
    )
    assert refused[0]["data"]["status"] == "failed"
    assert "63016" in refused[0]["data"]["reason"]

    ack = await alice.call("message.send", {"conversation_id": conversation_id, "text": "B"})
    await alice.wait_for(
        lambda n, d: (
            n == "message.status"
            and d["data"]["message_id"] == ack["message"]["id"]
            and d["data"]["status"] == "sent"
        )
    )
    stored = await live.server.store.message(ack["message"]["id"])
    assert stored is not None and stored.provider_message_id
    callback = twilio.status(stored.provider_message_id, "undelivered", CUSTOMER, "63024")
    await twilio.deliver(url, callback)
    failed = await alice.wait_for(
        lambda n, d: (
            n == "message.status"
            and d["data"]["status"] == "failed"
            and d["data"]["message_id"] == ack["message"]["id"]
        )
    )
    assert "63024" in failed[0]["data"]["reason"]


async def test_a_new_conversation_needs_an_approved_start_template(
    tw: tuple[LiveServer, str], twilio: FakeTwilio
) -> None:
    live, account_id = tw
    admin = await live.token("admin")
    status, refused = await live.api(
        "POST",
        "/api/templates",
        admin,
        {
            "account_id": account_id,
            "name": "Hello",
            "content": "Hi {{contact_name}}!",
            "type": "start",
        },
    )
    assert status == 400 and "content_sid" in refused["error"]["message"]
    content_sid = "HX" + "ab" * 16
    status, created = await live.api(
        "POST",
        "/api/templates",
        admin,
        {
            "account_id": account_id,
            "name": "Hello",
            "content": "Hi {{contact_name}}!",
            "type": "start",
            "content_sid": content_sid,
        },
    )
    assert status == 201, created
    assert created["template"]["approval"] == "approved"

    alice = await live.connect("alice")
    token = await live.token("alice")
    start = {"account_id": account_id, "to": "+55 11 91234-5678", "name": "Rui"}
    status, refused = await live.api("POST", "/api/conversations", token, {**start, "text": "Oi"})
    assert status == 400 and refused["error"]["code"] == "window_closed"
    status, started = await live.api(
        "POST", "/api/conversations", token, {**start, "template_id": created["template"]["id"]}
    )
    assert status == 201, started
    assert started["message"]["text"] == "Hi Rui!"
    await alice.wait_for(
        lambda n, d: n == "message.status" and d["data"]["message_id"] == started["message"]["id"]
    )
    assert twilio.sent[-1] == {
        "From": twilio.sender,
        "To": "whatsapp:+5511912345678",
        "ContentSid": content_sid,
        "ContentVariables": '{"1":"Rui"}',
        "StatusCallback": twilio_hook(live, account_id),
    }
