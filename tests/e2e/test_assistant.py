"""The assistant, end to end: an inbound message through the API channel, its analysis as a
private note over Socket.IO and HTTP, idempotent on redelivery, switchable per account."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from server.assistant import Job
from tests.e2e.conftest import Inbound, ServerProcess
from tests.e2e.test_web_client import DESKTOP, Session
from tests.fixtures.server import LiveServer

ANGRY = (
    "This is unacceptable!! My order #4411 still hasn't arrived and I need it TODAY. "
    "Please fix this ASAP!"
)


def _assistant_notes(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["sender"]["type"] == "assistant"]


async def _history(live: LiveServer, token: str, conversation_id: str) -> list[dict[str, Any]]:
    status, body = await live.api(
        "GET", f"/api/conversations/{conversation_id}/messages?limit=200", token
    )
    assert status == 200, body
    messages: list[dict[str, Any]] = body["messages"]
    return messages


async def _settle(live: LiveServer) -> None:
    """Every analysis queued so far has been handled (posted, skipped or failed)."""
    assistant = live.server.assistant
    assert assistant is not None
    await assistant.drain()


async def _create_tag(live: LiveServer, admin: str, name: str, description: str) -> str:
    status, body = await live.api(
        "POST", "/api/tags", admin, {"name": name, "description": description}
    )
    assert status == 201, body
    return str(body["tag"]["id"])


async def test_an_angry_urgent_message_gets_one_assistant_note_with_actions(
    live: LiveServer,
) -> None:
    admin = await live.token("admin")
    order_tag = await _create_tag(live, admin, "Order", "About an existing order")
    await _create_tag(live, admin, "Warranty", "Claims under warranty")
    alice = await live.connect("alice")
    alice_token = await live.token("alice")

    status, first = await live.inbound("kim@example.com", ANGRY, "angry-1")
    assert status == 201
    conversation_id, inbound_id = first["conversation_id"], first["message_id"]

    # Live: the note reaches the agent like any note, with its own seq and cursor.
    events = await alice.wait_for(
        lambda n, d: (
            n == "message.created" and d["data"]["message"]["sender"]["type"] == "assistant"
        )
    )
    event = events[0]
    note = event["data"]["message"]
    assert event["conversation_id"] == conversation_id
    assert note["kind"] == "note"
    assert note["sender"] == {"type": "assistant", "id": "assistant", "name": "Assistant"}
    inbound_event = next(
        e for e in alice.of_type("message.created") if e["data"]["message"]["id"] == inbound_id
    )
    assert event["seq"] > inbound_event["seq"] and event["cursor"] > inbound_event["cursor"]
    # The note does not move the conversation up the inbox: the customer's message did.
    assert (
        event["data"]["conversation"]["last_activity_at"]
        == inbound_event["data"]["conversation"]["last_activity_at"]
    )

    data = note["data"]
    assert data["message_id"] == inbound_id
    assert data["sentiment"] in ("frustrated", "urgent")
    assert data["urgent"] is True
    assert {"kind": "order", "value": "4411", "text": "order #4411"} in data["references"]
    assert data["suggested_tags"] == [{"id": order_tag, "name": "Order"}]  # never invented
    actions = {a["type"]: a for a in data["actions"]}
    assert {"assign_to_me", "set_pending", "link_customer", "add_tag"} <= set(actions)
    assert actions["add_tag"] == {"type": "add_tag", "label": "Add tag Order", "tag_id": order_tag}
    assert "Sentiment: frustrated" in note["text"] and "order 4411" in note["text"]

    # Redelivered by the provider (same message id): answered 200, no second note.
    status, again = await live.inbound("kim@example.com", ANGRY, "angry-1")
    assert status == 200 and again["message_id"] == inbound_id
    await _settle(live)
    # The analysis of a message lost by a node restart is retried safely: still one note,
    # even when two workers (or two nodes) run it at the same moment.
    assistant = live.server.assistant
    assert assistant is not None
    job = Job("acc_shop", conversation_id, inbound_id)
    assert await asyncio.gather(assistant.handle(job), assistant.handle(job)) == [False, False]

    history = await _history(live, alice_token, conversation_id)
    notes = _assistant_notes(history)
    assert len(notes) == 1 and notes[0]["id"] == note["id"]
    assert notes[0]["data"] == data  # stored as sent
    assert [m["kind"] for m in history if m["kind"] == "inbound"] == ["inbound"]

    # The quick actions are the ordinary commands: "Add tag Order", "Assign to me".
    ack = await alice.call(
        "conversation.tag",
        {"conversation_id": conversation_id, "tag_id": actions["add_tag"]["tag_id"]},
    )
    assert ack["ok"] and order_tag in ack["conversation"]["tag_ids"], ack
    ack = await alice.call(
        "conversation.assign", {"conversation_id": conversation_id, "user_id": "usr_alice"}
    )
    assert ack["ok"] and ack["conversation"]["assignee_user_id"] == "usr_alice", ack

    # Another customer's neutral hello carries nothing worth a note.
    status, hello = await live.inbound("lou@example.com", "Hello, opening hours?", "hello-1")
    assert status == 201
    await _settle(live)
    assert _assistant_notes(await _history(live, alice_token, hello["conversation_id"])) == []


async def test_the_account_setting_switches_the_assistant_off(live: LiveServer) -> None:
    admin = await live.token("admin")
    status, body = await live.api(
        "PATCH", "/api/accounts/acc_shop", admin, {"settings": {"assistant": {"enabled": False}}}
    )
    assert status == 200, body
    assert body["account"]["settings"]["assistant"] == {"enabled": False}
    status, body = await live.api(
        "PATCH", "/api/accounts/acc_shop", admin, {"settings": {"assistant": {"enabled": "no"}}}
    )
    assert status == 400 and body["error"]["code"] == "invalid"

    status, first = await live.inbound("max@example.com", ANGRY, "off-1")
    assert status == 201
    await _settle(live)
    history = await _history(live, admin, first["conversation_id"])
    assert [m["kind"] for m in history] == ["inbound"]

    # Switched back on, the next message is analyzed again.
    status, _ = await live.api(
        "PATCH", "/api/accounts/acc_shop", admin, {"settings": {"assistant": {"enabled": True}}}
    )
    assert status == 200
    status, second = await live.inbound("max@example.com", "Still waiting, ASAP please!", "off-2")
    assert status == 201
    await _settle(live)
    notes = _assistant_notes(await _history(live, admin, second["conversation_id"]))
    assert len(notes) == 1 and notes[0]["data"]["urgent"] is True


# --------------------------------------------------------------------------- in the browser


@pytest.fixture
def alice_session(chromium_browser: Any, demo_server: ServerProcess) -> Iterator[Session]:
    session = Session(chromium_browser, demo_server, demo_server.agent("alice"), DESKTOP)
    try:
        yield session
    finally:
        session.close()


def test_the_assistant_note_in_the_thread_and_its_quick_actions(
    alice_session: Session, api_inbound: Inbound
) -> None:
    conversation_id = api_inbound(f"assist-{uuid.uuid4().hex[:10]}", ANGRY, name="Angela Angry")
    alice_session.open(conversation_id)
    page = alice_session.page
    note = page.locator('[data-testid="message"][data-sender="assistant"]')
    expect(note).to_have_count(1)
    expect(note.get_by_test_id("message-sender")).to_have_text("Assistant")
    expect(note).to_contain_text("Private note")
    expect(note.get_by_test_id("assistant-sentiment")).to_have_text("Frustrated")
    expect(note.get_by_test_id("assistant-urgent")).to_be_visible()
    expect(note.get_by_test_id("assistant-references")).to_have_text("Order #4411")
    expect(note.get_by_test_id("assistant-tags")).to_contain_text("Order")

    # "Add tag Order" tags the conversation (the details panel shows it) and shows it is done.
    add_tag = note.locator('[data-action="add_tag"]', has_text="Order")
    add_tag.click()
    expect(add_tag).to_be_disabled()
    expect(add_tag).to_contain_text("Tagged Order")
    if not page.get_by_test_id("details").is_visible():
        page.get_by_test_id("toggle-details").click()
    expect(page.get_by_test_id("tag-editor")).to_contain_text("Order")

    note.locator('[data-action="assign_to_me"]').click()
    expect(page.get_by_test_id("assignee-select")).to_have_value(f"u:{alice_session.user_id}")
    note.locator('[data-action="set_pending"]').click()
    expect(page.get_by_test_id("thread")).to_have_attribute("data-status", "pending")

    note.locator('[data-action="link_customer"]').click()
    expect(page.get_by_test_id("link-customer-dialog")).to_be_visible()
