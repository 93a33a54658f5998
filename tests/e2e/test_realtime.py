"""The live inbox over Socket.IO, end to end: a real server, real clients, the API channel."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import socketio
from structlog.testing import capture_logs

from tests.fixtures.server import LiveServer


def _messages_of(agent: Any, conversation_id: str) -> list[dict[str, Any]]:
    return [e for e in agent.of_type("message.created") if e["conversation_id"] == conversation_id]


async def test_inbound_reaches_both_agents_and_assignment_moves_it_to_mine(
    live: LiveServer,
) -> None:
    alice = await live.connect("alice")
    bob = await live.connect("bob")

    status, first = await live.inbound("carol@example.com", "Where is my order?", "m-1")
    assert status == 201
    status, _ = await live.inbound("carol@example.com", "Order 1234, placed Monday", "m-2")
    assert status == 201
    conversation_id = first["conversation_id"]

    for agent in (alice, bob):
        await agent.wait_for(
            lambda n, d: n == "message.created" and d["data"]["message"]["text"].startswith("Order")
        )
        created = _messages_of(agent, conversation_id)
        texts = [e["data"]["message"]["text"] for e in created]
        assert texts == ["Where is my order?", "Order 1234, placed Monday"]
        assert created[1]["seq"] == created[0]["seq"] + 1
        assert created[1]["cursor"] > created[0]["cursor"]

    alice_token = await live.token("alice")
    bob_token = await live.token("bob")
    _, before = await live.api("GET", "/api/conversations?tab=mine", bob_token)
    assert conversation_id not in [c["id"] for c in before["conversations"]]

    ack = await alice.call(
        "conversation.assign", {"conversation_id": conversation_id, "user_id": "usr_bob"}
    )
    assert ack["ok"], ack
    assert ack["conversation"]["assignee_user_id"] == "usr_bob"

    for agent in (alice, bob):
        updates = await agent.wait_for(
            lambda n, d: (
                n == "conversation.updated"
                and d["data"]["conversation"]["assignee_user_id"] == "usr_bob"
            )
        )
        assert "assignee_user_id" in updates[0]["data"]["changes"]

    _, mine = await live.api("GET", "/api/conversations?tab=mine", bob_token)
    assert [c["id"] for c in mine["conversations"]] == [conversation_id]
    _, alice_mine = await live.api("GET", "/api/conversations?tab=mine", alice_token)
    assert conversation_id not in [c["id"] for c in alice_mine["conversations"]]
    _, unassigned = await live.api("GET", "/api/conversations?tab=unassigned", alice_token)
    assert conversation_id not in [c["id"] for c in unassigned["conversations"]]


async def test_reconnect_with_cursor_returns_exactly_the_missed_events(live: LiveServer) -> None:
    token = await live.token("alice")
    alice = await live.connect("alice", token)
    await live.inbound("dave@example.com", "hello", "d-0")
    seen = await alice.wait_for(lambda n, d: n == "message.created")
    cursor = seen[-1]["cursor"]
    await alice.client.disconnect()

    # 50 events while Alice is away: 25 inbound messages on two conversations, each one event.
    for i in range(25):
        for sender in ("dave@example.com", "erin@example.com"):
            status, _ = await live.inbound(sender, f"{sender} #{i}", f"{sender}-{i}")
            assert status == 201
    # erin's first message also created her conversation: one more event.
    back = await live.connect("alice", token)
    ack = await back.call("resume", {"cursor": cursor})
    assert ack["ok"] and "resync" not in ack, ack
    events = ack["events"]
    created = [e for e in events if e["type"] == "message.created"]
    assert len(created) == 50
    assert [e["type"] for e in events].count("conversation.created") == 1
    assert len(events) == 51
    cursors = [e["cursor"] for e in events]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    assert cursors[0] > cursor and ack["cursor"] == cursors[-1]
    for sender in ("dave@example.com", "erin@example.com"):
        texts = [
            e["data"]["message"]["text"]
            for e in created
            if e["data"]["message"]["text"].startswith(sender)
        ]
        assert texts == [f"{sender} #{i}" for i in range(25)]
        seqs = [
            e["seq"]
            for e in events
            if e["data"].get("message", {}).get("text", "").startswith(sender)
        ]
        assert seqs == list(range(seqs[0], seqs[0] + 25))

    # Nothing missed, nothing twice: resuming again from the new cursor yields nothing.
    again = await back.call("resume", {"cursor": ack["cursor"]})
    assert again["events"] == []


async def test_resume_from_a_pruned_cursor_asks_for_a_resync(live: LiveServer) -> None:
    alice = await live.connect("alice")
    for i in range(5):
        await live.inbound("fay@example.com", f"hi {i}", f"f-{i}")
    dropped = await live.server.store.trim_events(2)
    assert dropped == 4
    ack = await alice.call("resume", {"cursor": 1})
    assert ack["ok"] and ack["resync"] is True


async def test_a_send_retried_with_one_idempotency_key_is_stored_and_delivered_once(
    live: LiveServer,
) -> None:
    alice = await live.connect("alice")
    _, first = await live.inbound("gus@example.com", "Need help", "g-1")
    conversation_id = first["conversation_id"]
    key = str(uuid.uuid4())
    payload = {"conversation_id": conversation_id, "text": "On it!", "idempotency_key": key}
    answers = await asyncio.gather(*(alice.call("message.send", payload) for _ in range(3)))
    answers.append(await alice.call("message.send", payload))
    assert all(a["ok"] for a in answers), answers
    ids = {a["message"]["id"] for a in answers}
    assert len(ids) == 1

    token = await live.token("alice")
    _, history = await live.api("GET", f"/api/conversations/{conversation_id}/messages", token)
    replies = [m for m in history["messages"] if m["text"] == "On it!"]
    assert len(replies) == 1
    # Delivered once: the outbox handed it over once (no webhook -> marked sent once).
    await alice.wait_for(lambda n, d: n == "message.status" and d["data"]["status"] == "sent")
    await asyncio.sleep(0.2)
    statuses = [e for e in alice.of_type("message.status") if e["data"]["message_id"] in ids]
    assert len(statuses) == 1
    created = [
        e for e in _messages_of(alice, conversation_id) if e["data"]["message"]["text"] == "On it!"
    ]
    assert len(created) == 1


async def test_an_agent_not_authorized_on_an_account_can_neither_see_nor_act(
    live: LiveServer,
) -> None:
    olga = await live.connect("olga")
    alice = await live.connect("alice")
    _, shop_msg = await live.inbound("hank@example.com", "private to Shop", "h-1")
    _, other_msg = await live.inbound("ivy@example.com", "for Other", "i-1", account="other")
    shop_conversation = shop_msg["conversation_id"]

    await olga.wait_for(lambda n, d: n == "message.created")
    await alice.wait_for(lambda n, d: n == "message.created")
    # Olga's socket never saw the Shop event; Alice's never saw Other's.
    assert all(e["account_id"] == "acc_other" for e in olga.of_type("message.created"))
    assert all(e["account_id"] == "acc_shop" for e in alice.of_type("message.created"))

    token = await live.token("olga")
    _, listing = await live.api("GET", "/api/conversations", token)
    assert [c["id"] for c in listing["conversations"]] == [other_msg["conversation_id"]]
    status, body = await live.api("GET", f"/api/conversations/{shop_conversation}", token)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert "Shop" in body["error"]["message"]
    status, body = await live.api("GET", f"/api/conversations/{shop_conversation}/messages", token)
    assert status == 403
    status, body = await live.api(
        "POST", f"/api/conversations/{shop_conversation}/messages", token, {"text": "sneaky"}
    )
    assert status == 403
    status, body = await live.api(
        "POST", f"/api/conversations/{shop_conversation}/assign", token, {"user_id": "usr_olga"}
    )
    assert status == 403

    for command, payload in [
        ("conversation.join", {"conversation_id": shop_conversation}),
        ("message.send", {"conversation_id": shop_conversation, "text": "sneaky"}),
        ("conversation.assign", {"conversation_id": shop_conversation, "user_id": "usr_olga"}),
        ("conversation.status", {"conversation_id": shop_conversation, "status": "resolved"}),
        ("typing", {"conversation_id": shop_conversation, "typing": True}),
    ]:
        ack = await olga.call(command, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (command, ack)
    # Resume never leaks another account's events either.
    ack = await olga.call("resume", {"cursor": 0})
    assert {e["account_id"] for e in ack["events"]} == {"acc_other"}

    alice_token = await live.token("alice")
    _, history = await live.api(
        "GET", f"/api/conversations/{shop_conversation}/messages", alice_token
    )
    assert [m["text"] for m in history["messages"] if m["kind"] != "system"] == ["private to Shop"]


async def test_connections_without_valid_credentials_are_refused(live: LiveServer) -> None:
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(live.url, auth={"token": "forged"}, transports=["websocket"])
    assert not client.connected
    # The server keeps serving others.
    alice = await live.connect("alice")
    ack = await alice.call("resume", {"cursor": 0})
    assert ack["ok"]


async def test_bad_socket_commands_get_clear_errors_and_change_nothing(live: LiveServer) -> None:
    alice = await live.connect("alice")
    _, first = await live.inbound("jo@example.com", "hi", "j-1")
    conversation_id = first["conversation_id"]
    cases = [
        ("message.send", "not an object", "invalid"),
        ("message.send", {"conversation_id": "cnv_missing", "text": "x"}, "not_found"),
        ("message.send", {"conversation_id": conversation_id, "text": ""}, "invalid"),
        (
            "conversation.status",
            {"conversation_id": conversation_id, "status": "exploded"},
            "invalid",
        ),
        (
            "conversation.assign",
            {"conversation_id": conversation_id, "user_id": "usr_nobody"},
            "not_found",
        ),
        ("resume", {"cursor": "yesterday"}, "invalid"),
    ]
    for command, payload, code in cases:
        ack = await alice.call(command, payload)
        assert ack["ok"] is False and ack["error"]["code"] == code, (command, ack)
        assert ack["error"]["message"]
    token = await live.token("alice")
    _, history = await live.api("GET", f"/api/conversations/{conversation_id}/messages", token)
    assert [m["text"] for m in history["messages"]] == ["hi"]


async def test_typing_and_viewing_reach_the_other_agents(live: LiveServer) -> None:
    alice = await live.connect("alice")
    bob = await live.connect("bob")
    _, first = await live.inbound("kim@example.com", "hello", "k-1")
    conversation_id = first["conversation_id"]
    ack = await alice.call("conversation.join", {"conversation_id": conversation_id})
    assert [v["name"] for v in ack["viewers"]] == ["Alice"]
    ack = await bob.call("conversation.join", {"conversation_id": conversation_id})
    assert [v["name"] for v in ack["viewers"]] == ["Alice", "Bob"]
    viewing = await alice.wait_for(lambda n, d: n == "viewing" and len(d["viewers"]) == 2)
    assert viewing[-1]["conversation_id"] == conversation_id
    # Opening the conversation over HTTP shows who else has it open.
    status, detail = await live.api(
        "GET", f"/api/conversations/{conversation_id}", await live.token("alice")
    )
    assert status == 200, detail
    assert [v["name"] for v in detail["viewers"]] == ["Alice", "Bob"]

    await bob.call("typing", {"conversation_id": conversation_id, "typing": True})
    typing = await alice.wait_for(lambda n, d: n == "typing")
    assert typing[0] == {
        "conversation_id": conversation_id,
        "user_id": "usr_bob",
        "name": "Bob",
        "typing": True,
    }
    assert not bob.of_type("typing")  # never echoed to the typist

    await bob.client.disconnect()
    await alice.wait_for(
        lambda n, d: n == "viewing" and [v["name"] for v in d["viewers"]] == ["Alice"]
    )
    await alice.wait_for(
        lambda n, d: n == "presence.updated" and d == {"user_id": "usr_bob", "status": "offline"}
    )


async def test_a_crashing_conversation_actor_restarts_from_the_store(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await live.connect("alice")
    _, first = await live.inbound("lee@example.com", "hello", "l-1")
    conversation_id = first["conversation_id"]
    store = live.server.store
    real_commit = store.commit
    failures = {"left": 1}

    async def flaky_commit(write: Any) -> Any:
        if write.conversation.id == conversation_id and failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("disk on fire")
        return await real_commit(write)

    monkeypatch.setattr(store, "commit", flaky_commit)
    ack = await alice.call(
        "message.send", {"conversation_id": conversation_id, "text": "first try"}
    )
    assert ack["ok"] is False and ack["error"]["code"] == "unavailable"
    ack = await alice.call(
        "message.send", {"conversation_id": conversation_id, "text": "second try"}
    )
    assert ack["ok"], ack
    token = await live.token("alice")
    _, history = await live.api("GET", f"/api/conversations/{conversation_id}/messages", token)
    texts = [m["text"] for m in history["messages"]]
    assert "second try" in texts and "first try" not in texts
    # The restarted actor continued the seq where the store left it: no gap, no reuse.
    seqs = sorted(m["seq"] for m in history["messages"])
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_a_crash_loop_escalates_and_is_logged(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await live.connect("alice")
    _, first = await live.inbound("max@example.com", "hello", "x-1")
    conversation_id = first["conversation_id"]
    store = live.server.store
    real_commit = store.commit
    attempts = {"n": 0}

    async def broken_commit(write: Any) -> Any:
        if write.conversation.id == conversation_id:
            attempts["n"] += 1
            raise RuntimeError("still broken")
        return await real_commit(write)

    monkeypatch.setattr(store, "commit", broken_commit)
    with capture_logs() as logs:
        answers = []
        for i in range(10):
            answers.append(
                await alice.call(
                    "message.send", {"conversation_id": conversation_id, "text": f"try {i}"}
                )
            )
    assert all(a["ok"] is False and a["error"]["code"] == "unavailable" for a in answers)
    spec = live.server.conversations  # max_restarts=5: the 6th crash escalates
    assert attempts["n"] == 6, "no more restarts after the escalation: no spinning"
    assert not spec.is_active(conversation_id)
    assert any(
        entry["event"] == "actor.escalated" and entry["log_level"] == "error" for entry in logs
    )
    # Other conversations are untouched.
    status, _ = await live.inbound("other@example.com", "unaffected", "o-1")
    assert status == 201


async def test_two_agents_assigning_at_the_same_instant_get_one_winner_and_one_conflict(
    live: LiveServer,
) -> None:
    alice = await live.connect("alice")
    admin = await live.connect("admin")
    _, first = await live.inbound("nia@example.com", "who takes me?", "n-1")
    conversation_id = first["conversation_id"]
    unassigned = {"user_id": None, "team_id": None}
    answers = await asyncio.gather(
        alice.call(
            "conversation.assign",
            {"conversation_id": conversation_id, "user_id": "usr_alice", "expected": unassigned},
        ),
        admin.call(
            "conversation.assign",
            {"conversation_id": conversation_id, "user_id": "usr_bob", "expected": unassigned},
        ),
    )
    winners = [a for a in answers if a["ok"]]
    losers = [a for a in answers if not a["ok"]]
    assert len(winners) == 1 and len(losers) == 1, answers
    assert losers[0]["error"]["code"] == "assignment_conflict"
    winner = winners[0]["conversation"]["assignee_user_id"]
    token = await live.token("admin")
    _, detail = await live.api("GET", f"/api/conversations/{conversation_id}", token)
    assert detail["conversation"]["assignee_user_id"] == winner
    for agent in (alice, admin):
        updates = await agent.wait_for(lambda n, d: n == "conversation.updated")
        assert [u["data"]["conversation"]["assignee_user_id"] for u in updates] == [winner]


async def test_assignment_rules_rotate_new_conversations_by_workload(live: LiveServer) -> None:
    admin_token = await live.token("admin")
    status, body = await live.api(
        "PATCH",
        "/api/accounts/acc_shop",
        admin_token,
        {
            "settings": {"assignment_rules": [{"type": "workload"}]},
            "authorized": [
                {"user_id": "usr_alice", "auto_assign": True, "can_reassign": True},
                {"user_id": "usr_bob", "auto_assign": True},
            ],
        },
    )
    assert status == 200, body
    alice = await live.connect("alice")
    await live.connect("bob")  # rotation prefers agents who are online: both are
    assignees = []
    for i in range(4):
        _, answer = await live.inbound(f"buyer{i}@example.com", "hello", f"rot-{i}")
        updates = await alice.wait_for(
            lambda n, d, cid=answer["conversation_id"]: (
                n == "conversation.updated"
                and d["conversation_id"] == cid
                and d["data"]["conversation"]["assignee_user_id"] is not None
            )
        )
        assignees.append(updates[0]["data"]["conversation"]["assignee_user_id"])
    assert sorted(assignees) == ["usr_alice", "usr_alice", "usr_bob", "usr_bob"]
    history = await live.api(
        "GET", f"/api/conversations/{answer['conversation_id']}/messages", admin_token
    )
    assert any("Auto-assignment assigned" in m["text"] for m in history[1]["messages"])


async def test_taking_an_agent_off_an_account_stops_its_events_at_once(live: LiveServer) -> None:
    bob = await live.connect("bob")
    await live.inbound("quinn@example.com", "before", "q-1")
    await bob.wait_for(lambda n, d: n == "message.created")
    admin_token = await live.token("admin")
    status, body = await live.api(
        "PATCH",
        "/api/accounts/acc_shop",
        admin_token,
        {"authorized": [{"user_id": "usr_alice", "can_reassign": True}]},
    )
    assert status == 200, body
    alice = await live.connect("alice")
    await live.inbound("quinn@example.com", "after", "q-2")
    await alice.wait_for(
        lambda n, d: n == "message.created" and d["data"]["message"]["text"] == "after"
    )
    texts = [e["data"]["message"]["text"] for e in bob.of_type("message.created")]
    assert texts == ["before"]  # Bob's open socket no longer gets Shop's events
    ack = await bob.call("resume", {"cursor": 0})
    assert ack["ok"] and ack["events"] == []  # nor can he replay them
