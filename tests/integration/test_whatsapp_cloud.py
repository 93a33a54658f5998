"""WhatsApp through Meta's Cloud API, end to end: a real server, the fake Graph API sending
signed webhooks and receiving our sends, agents on Socket.IO."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from server.actors.account import contact_id_for, conversation_id_for
from server.domain import commands as c
from server.domain.conversation import decide
from server.domain.models import Contact
from server.store.base import ConversationWrite
from tests.fakes.accounts import cloud_hook, create_cloud_account
from tests.fakes.graph import FakeGraph, graph_error
from tests.fixtures.server import LiveServer, start_live_server, stop_live_server

CUSTOMER = "4915123456789"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def wa(tmp_path: Path, graph: FakeGraph) -> AsyncIterator[tuple[LiveServer, str]]:
    live = await start_live_server(tmp_path / "data")
    try:
        account = await create_cloud_account(live, graph)
        yield live, account["id"]
    finally:
        await stop_live_server(live)


def _created(agent: Any) -> list[dict[str, Any]]:
    return [e["data"]["message"] for e in agent.of_type("message.created")]


async def _inbound(live: LiveServer, graph: FakeGraph, account_id: str, text: str) -> str:
    status, _ = await graph.deliver(cloud_hook(live, account_id), graph.text(CUSTOMER, text))
    assert status == 200
    conversation_id = conversation_id_for(account_id, contact_id_for("whatsapp", f"+{CUSTOMER}"))
    return conversation_id


async def test_inbound_text_and_image_reach_the_agent_once(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    alice = await live.connect("alice")
    text = graph.text(CUSTOMER, "Is the brake kit in stock?", name="Jonas Weber")
    status, _ = await graph.deliver(cloud_hook(live, account_id), text)
    assert status == 200
    status, _ = await graph.deliver(
        cloud_hook(live, account_id), graph.image(CUSTOMER, PNG, caption="This one")
    )
    assert status == 200
    await alice.wait_for(
        lambda n, d: n == "message.created" and d["data"]["message"]["attachments"]
    )
    first, second = _created(alice)
    assert (
        first["text"] == "Is the brake kit in stock?" and first["sender"]["name"] == "Jonas Weber"
    )
    assert second["text"] == "This one"
    attachment = second["attachments"][0]
    assert attachment["content_type"] == "image/jpeg" and attachment["size"] == len(PNG)
    async with live.http.get(
        f"{live.url}{attachment['url']}",
        headers={"Authorization": f"Bearer {await live.token('alice')}"},
    ) as response:
        assert response.status == 200 and await response.read() == PNG

    # Meta redelivers the first webhook: answered 200, nothing stored twice.
    status, _ = await graph.deliver(cloud_hook(live, account_id), text)
    assert status == 200
    token = await live.token("alice")
    conversation_id = first["conversation_id"]
    _, detail = await live.api("GET", f"/api/conversations/{conversation_id}", token)
    assert detail["contact"]["phone"] == f"+{CUSTOMER}"
    assert detail["contact"]["name"] == "Jonas Weber"
    assert detail["conversation"]["window_expires_at"] > time.time() + 23 * 3600
    _, page = await live.api("GET", f"/api/conversations/{conversation_id}/messages", token)
    assert len(page["messages"]) == 2


async def test_the_verification_handshake_echoes_the_challenge(
    wa: tuple[LiveServer, str],
) -> None:
    live, account_id = wa
    url = cloud_hook(live, account_id)
    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "42"}
    async with live.http.get(url, params=query) as response:
        assert response.status == 200 and await response.text() == "42"
    async with live.http.get(url, params={**query, "hub.verify_token": "guess"}) as response:
        assert response.status == 403


async def test_a_forged_or_malformed_webhook_is_refused_logged_and_stores_nothing(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    url = cloud_hook(live, account_id)
    forged = graph.text(CUSTOMER, "Send me your refund")
    with capture_logs() as logs:
        status, _ = await graph.deliver(url, forged, signature="sha256=" + "0" * 64)
        assert status == 401
        status, answer = await graph.deliver(
            url, {"object": "whatsapp_business_account", "entry": "nope"}
        )
        assert status == 400 and "entry" in answer
    events = [entry["event"] for entry in logs]
    assert "whatsapp.bad_signature" in events and "whatsapp.bad_payload" in events
    token = await live.token("alice")
    _, listed = await live.api("GET", f"/api/conversations?tab=all&account_id={account_id}", token)
    assert listed["conversations"] == []

    conversation_id = await _inbound(live, graph, account_id, "Hello, real me here")
    _, page = await live.api("GET", f"/api/conversations/{conversation_id}/messages", token)
    assert [m["text"] for m in page["messages"]] == ["Hello, real me here"]


async def test_a_reply_goes_out_and_its_ticks_only_move_forward(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    conversation_id = await _inbound(live, graph, account_id, "Where is my order?")
    alice = await live.connect("alice")
    ack = await alice.call(
        "message.send", {"conversation_id": conversation_id, "text": "It ships today"}
    )
    assert ack["ok"], ack
    message_id = ack["message"]["id"]
    await alice.wait_for(lambda n, d: n == "message.status" and d["data"]["status"] == "sent")
    assert graph.sent == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": CUSTOMER,
            "type": "text",
            "text": {"preview_url": False, "body": "It ships today"},
        }
    ]
    assert graph.received[-1].authorization == f"Bearer {graph.access_token}"
    stored = await live.server.store.message(message_id)
    assert stored is not None and stored.provider_message_id
    wamid = stored.provider_message_id
    for tick in ("delivered", "read", "delivered"):  # Meta does not promise the order
        status, _ = await graph.deliver(
            cloud_hook(live, account_id), graph.status(wamid, tick, CUSTOMER)
        )
        assert status == 200
    await alice.wait_for(lambda n, d: n == "message.status" and d["data"]["status"] == "read")
    statuses = [e["data"]["status"] for e in alice.of_type("message.status")]
    assert statuses == ["sent", "delivered", "read"]
    stored = await live.server.store.message(message_id)
    assert stored is not None and stored.status == "read"


async def test_a_rate_limit_is_retried_after_retry_after_and_a_refusal_shows_why(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    conversation_id = await _inbound(live, graph, account_id, "Hi")
    alice = await live.connect("alice")
    graph.fail_next(429, graph_error(130429, "Rate limit hit"), **{"Retry-After": "2"})
    with capture_logs() as logs:
        ack = await alice.call("message.send", {"conversation_id": conversation_id, "text": "A"})
        first = ack["message"]["id"]
        await alice.wait_for(
            lambda n, d: n == "message.status" and d["data"]["message_id"] == first, timeout=10
        )
    retries = [entry for entry in logs if entry["event"] == "outbox.retry"]
    assert [r["delay"] for r in retries] == [2.0]  # the provider's Retry-After, not 1 s
    assert [m["text"]["body"] for m in graph.sent] == ["A", "A"]
    assert alice.of_type("message.status")[-1]["data"]["status"] == "sent"

    graph.fail_next(
        400,
        graph_error(
            131047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer"
            " last replied to this number.",
        ),
    )
    ack = await alice.call("message.send", {"conversation_id": conversation_id, "text": "B"})
    second = ack["message"]["id"]
    update = await alice.wait_for(
        lambda n, d: n == "message.status" and d["data"]["message_id"] == second
    )
    assert update[0]["data"]["status"] == "failed"
    assert "131047" in update[0]["data"]["reason"]
    assert "more than 24 hours" in update[0]["data"]["reason"]
    assert [m["text"]["body"] for m in graph.sent].count("B") == 1  # a 4xx is not retried


async def _old_conversation(live: LiveServer, account_id: str, phone: str) -> str:
    """A customer who last wrote 25 hours ago, stored as the server would have stored it."""
    account = live.server.workspace.account(account_id)
    contact = Contact(
        id=contact_id_for("whatsapp", phone),
        name="Old Customer",
        phone=phone,
        handles={"whatsapp": phone},
    )
    conversation_id = conversation_id_for(account_id, contact.id)
    outcome = decide(
        conversation_id,
        None,
        c.AppendInbound(
            account=account, contact=contact, provider_message_id="wamid.old", text="Hi"
        ),
        now=time.time() - 25 * 3600,
    )
    await live.server.store.commit(
        ConversationWrite(
            conversation=outcome.conversation,
            expected_version=0,
            new_messages=outcome.new_messages,
            events=outcome.events,
            records=[contact],
        )
    )
    return conversation_id


async def test_outside_the_window_only_an_approved_window_template_goes_out(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    conversation_id = await _old_conversation(live, account_id, "+4917600000001")
    token = await live.token("alice")
    path = f"/api/conversations/{conversation_id}/messages"
    status, refused = await live.api("POST", path, token, {"text": "Still there?"})
    assert status == 400 and refused["error"]["code"] == "window_closed"

    admin = await live.token("admin")
    status, created = await live.api(
        "POST",
        "/api/templates",
        admin,
        {
            "account_id": account_id,
            "name": "Follow up",
            "content": "Hello {{customer_name}}, your quote {{quote_number}} is ready.",
            "type": "window",
            "language": "en_US",
        },
    )
    assert status == 201, created
    template = created["template"]
    assert template["approval"] == "pending"
    submitted = graph.templates[template["provider_template_id"]]
    assert submitted["name"] == "follow_up" and submitted["category"] == "UTILITY"
    assert submitted["components"][0]["text"] == "Hello {{1}}, your quote {{2}} is ready."

    send = {"template_id": template["id"], "template_params": {"quote_number": "Q-77"}}
    status, refused = await live.api("POST", path, token, send)
    assert status == 400 and refused["error"]["code"] == "template_not_approved"

    review = graph.template_review(template["provider_template_id"], "APPROVED")
    status, _ = await graph.deliver(cloud_hook(live, account_id), review)
    assert status == 200
    alice = await live.connect("alice")
    status, sent = await live.api("POST", path, token, send)
    assert status == 201, sent
    assert sent["message"]["text"] == "Hello Old Customer, your quote Q-77 is ready."
    await alice.wait_for(
        lambda n, d: n == "message.status" and d["data"]["message_id"] == sent["message"]["id"]
    )
    assert graph.sent[-1]["type"] == "template"
    assert graph.sent[-1]["template"] == {
        "name": "follow_up",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Old Customer"},
                    {"type": "text", "text": "Q-77"},
                ],
            }
        ],
    }


async def test_a_rejected_template_can_be_edited_and_resubmitted(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    admin = await live.token("admin")
    _, created = await live.api(
        "POST",
        "/api/templates",
        admin,
        {"account_id": account_id, "name": "Promo", "content": "BUY NOW!!!", "type": "start"},
    )
    template = created["template"]
    alice = await live.connect("alice")  # open clients hear of Meta's verdict at once
    review = graph.template_review(template["provider_template_id"], "REJECTED", "PROMOTIONAL")
    await graph.deliver(cloud_hook(live, account_id), review)
    await alice.wait_for(lambda n, d: n == "workspace.changed" and d["kind"] == "templates")
    _, listed = await live.api("GET", f"/api/templates?account_id={account_id}", admin)
    rejected = next(t for t in listed["templates"] if t["id"] == template["id"])
    assert rejected["approval"] == "rejected" and rejected["approval_reason"] == "PROMOTIONAL"

    status, edited = await live.api(
        "PATCH", f"/api/templates/{template['id']}", admin, {"content": "Hello {{contact_name}}"}
    )
    assert status == 200, edited
    assert edited["template"]["approval"] == "pending"
    assert graph.received[-1].path == f"/v21.0/{template['provider_template_id']}"
    assert (
        graph.templates[template["provider_template_id"]]["components"][0]["text"] == "Hello {{1}}"
    )


async def test_account_validation_and_no_secret_leaks(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    admin = await live.token("admin")
    status, refused = await live.api(
        "POST",
        "/api/accounts",
        admin,
        {
            "kind": "whatsapp",
            "name": "Broken",
            "settings": {"provider": "cloud", "phone_number_id": "1", "waba_id": "2"},
            "secrets": {"access_token": "x"},
        },
    )
    assert status == 400 and "app_secret" in refused["error"]["message"]
    status, refused = await live.api(
        "POST", "/api/accounts", admin, {"kind": "whatsapp", "name": "No provider"}
    )
    assert status == 400 and "provider" in refused["error"]["message"]

    with capture_logs() as logs:
        await _inbound(live, graph, account_id, "Hi there")
        await graph.deliver(
            cloud_hook(live, account_id), graph.text(CUSTOMER, "x"), signature="bad"
        )
        _, accounts = await live.api("GET", "/api/accounts", admin)
        _, one = await live.api("GET", f"/api/accounts/{account_id}", admin)
        _, boot = await live.api("GET", "/api/bootstrap", await live.token("alice"))
    exposed = orjson.dumps([accounts, one, boot, logs], default=str).decode()
    for secret in (graph.access_token, graph.app_secret, "verify-me-please"):
        assert secret not in exposed
    mine = next(a for a in accounts["accounts"] if a["id"] == account_id)
    assert mine["secrets"] == ["access_token", "app_secret", "verify_token"]
