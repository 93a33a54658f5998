"""WhatsApp groups through Meta's Cloud API, end to end: a real server, the fake Graph API
creating groups and sending the group webhooks signed as Meta does, agents on Socket.IO."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.accounts import cloud_hook, create_cloud_account
from tests.fakes.graph import FakeGraph
from tests.fixtures.server import LiveServer, start_live_server, stop_live_server

MEMBER = "4915123456789"


@pytest.fixture
async def wa(tmp_path: Path, graph: FakeGraph) -> AsyncIterator[tuple[LiveServer, str]]:
    """A Cloud API account Meta reports as an Official Business Account; Alice may manage
    groups, Bob may not."""
    live = await start_live_server(tmp_path / "data")
    try:
        account = await create_cloud_account(live, graph)
        graph.webhook_url = cloud_hook(live, account["id"])
        admin = await live.token("admin")
        status, body = await live.api(
            "POST", f"/api/accounts/{account['id']}/whatsapp/groups/eligibility", admin
        )
        assert status == 200 and body["account"]["settings"]["official_business_account"], body
        status, body = await live.api(
            "PATCH", "/api/users/usr_alice", admin, {"can_manage_groups": True}
        )
        assert status == 200, body
        yield live, account["id"]
    finally:
        await graph.settle()
        await stop_live_server(live)


async def _create(
    live: LiveServer, graph: FakeGraph, account_id: str, *, approval: bool = False
) -> dict[str, Any]:
    token = await live.token("alice")
    status, body = await live.api(
        "POST",
        "/api/groups",
        token,
        {
            "account_id": account_id,
            "subject": "Brake kit buyers",
            "description": "Fitting help",
            "join_approval": approval,
        },
    )
    assert status == 201, body
    conversation = body["conversation"]
    assert conversation["group"]["state"] == "creating"
    await graph.settle()  # Meta's group_create webhook names the group id and invite link
    _, detail = await live.api("GET", f"/api/conversations/{conversation['id']}", token)
    created: dict[str, Any] = detail["conversation"]
    assert created["group"]["state"] == "active", created
    return created


async def _hook(live: LiveServer, graph: FakeGraph, account_id: str, payload: Any) -> None:
    status, answer = await graph.deliver(cloud_hook(live, account_id), payload)
    assert status == 200, answer


async def _lines(live: LiveServer, conversation_id: str) -> list[str]:
    token = await live.token("bob")
    _, page = await live.api("GET", f"/api/conversations/{conversation_id}/messages", token)
    return [m["text"] for m in page["messages"] if m["kind"] == "system"]


async def test_a_group_is_created_joined_and_talked_to_in_real_time(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    alice_token = await live.token("alice")
    _, senders = await live.api("GET", "/api/groups/senders", alice_token)
    assert [s["account_id"] for s in senders["senders"]] == [account_id]
    _, none_for_bob = await live.api("GET", "/api/groups/senders", await live.token("bob"))
    assert none_for_bob["senders"] == []

    group = await _create(live, graph, account_id)
    group_id = group["group"]["group_id"]
    assert graph.groups[group_id].subject == "Brake kit buyers"
    assert group["group"]["invite_link"] == graph.groups[group_id].invite_link
    assert [p["role"] for p in group["group"]["participants"]] == ["admin"]

    # A participant opens the invite link: the system line reaches a connected agent.
    bob = await live.connect("bob")
    joined = graph.join(group_id, MEMBER, "Jonas Weber")
    await _hook(live, graph, account_id, joined)
    events = await bob.wait_for(
        lambda n, d: n == "message.created" and "joined the group" in d["data"]["message"]["text"]
    )
    line = events[-1]
    assert line["conversation_id"] == group["id"]
    assert line["data"]["message"]["text"] == "Jonas Weber (+4915123456789) joined the group"
    members = line["data"]["conversation"]["group"]["participants"]
    assert [(p["wa_id"], p["role"]) for p in members][-1] == (MEMBER, "member")
    # Meta redelivers the webhook: no second line.
    await _hook(live, graph, account_id, joined)

    # A participant writes in the group: the sender's name rides on the message.
    await _hook(
        live, graph, account_id, graph.group_text(group_id, MEMBER, "Which size?", "Jonas Weber")
    )
    events = await bob.wait_for(
        lambda n, d: n == "message.created" and d["data"]["message"]["text"] == "Which size?"
    )
    inbound = events[-1]["data"]["message"]
    assert inbound["kind"] == "inbound" and inbound["sender"]["name"] == "Jonas Weber"
    assert inbound["data"]["group_sender"]["phone"] == f"+{MEMBER}"

    # Bob (no group permission) still replies; it goes to the group id, never to a number.
    bob_token = await live.token("bob")
    status, sent = await live.api(
        "POST", f"/api/conversations/{group['id']}/messages", bob_token, {"text": "Size 3"}
    )
    assert status == 201, sent
    await bob.wait_for(
        lambda n, d: n == "message.status" and d["data"]["message_id"] == sent["message"]["id"]
    )
    assert graph.sent[-1]["recipient_type"] == "group" and graph.sent[-1]["to"] == group_id
    assert graph.sent[-1]["text"]["body"] == "Size 3"

    # The participant leaves; the subject changes; a join request is listed by name.
    await _hook(live, graph, account_id, graph.leave(group_id, MEMBER))
    status, body = await live.api(
        "PATCH", f"/api/conversations/{group['id']}/group", alice_token, {"subject": "Brakes"}
    )
    assert status == 200 and body["conversation"]["group"]["subject"] == "Brakes"
    await graph.settle()  # Meta confirms the change: no second line
    lines = await _lines(live, group["id"])
    assert "Jonas Weber (+4915123456789) left the group" in lines
    assert lines.count("Alice changed the group subject to 'Brakes'") == 1


async def test_invites_go_out_as_templates_in_private_threads(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    admin = await live.token("admin")
    status, created = await live.api(
        "POST",
        "/api/templates",
        admin,
        {
            "account_id": account_id,
            "name": "Group invite",
            "content": "Join {{group_subject}}: {{invite_link}}",
            "type": "start",
            "language": "en_US",
        },
    )
    assert status == 201, created
    template = created["template"]
    review = graph.template_review(template["provider_template_id"], "APPROVED")
    await _hook(live, graph, account_id, review)
    group = await _create(live, graph, account_id)
    link = group["group"]["invite_link"]

    token = await live.token("alice")
    alice = await live.connect("alice")
    status, body = await live.api(
        "POST",
        f"/api/conversations/{group['id']}/group/invites",
        token,
        {"template_id": template["id"], "phones": [f"+{MEMBER}", "not a number"]},
    )
    assert status == 200, body
    ok, bad = body["results"]
    assert ok["ok"] and not bad["ok"] and "international format" in bad["error"]["message"]
    await alice.wait_for(lambda n, d: n == "message.status" and d["data"]["status"] == "sent")
    sent = [m for m in graph.sent if m.get("type") == "template"]
    assert len(sent) == 1 and sent[0]["to"] == MEMBER and sent[0]["recipient_type"] == "individual"
    params = sent[0]["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Brake kit buyers", link]

    # The private thread is now an invite candidate, found by name or number.
    path = f"/api/conversations/{group['id']}/group/invite-candidates"
    _, page = await live.api("GET", path, token)
    assert [c["conversation_id"] for c in page["candidates"]] == [ok["conversation_id"]]
    _, found = await live.api("GET", f"{path}?q=4915123", token)
    assert [c["phone"] for c in found["candidates"]] == [f"+{MEMBER}"]

    # Bob may not send invites.
    status, refused = await live.api(
        "POST",
        f"/api/conversations/{group['id']}/group/invites",
        await live.token("bob"),
        {"template_id": template["id"], "phones": [f"+{MEMBER}"]},
    )
    assert status == 403 and refused["error"]["code"] == "group_permission"


async def test_the_ninth_participant_is_refused(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    group = await _create(live, graph, account_id, approval=True)
    group_id = group["group"]["group_id"]
    token = await live.token("alice")
    for n in range(7):
        request = graph.join(group_id, f"49151000000{n}", f"Member {n}")
        await _hook(live, graph, account_id, request)
        _, detail = await live.api("GET", f"/api/conversations/{group['id']}", token)
        pending = detail["conversation"]["group"]["join_requests"]
        assert pending[-1]["name"] == f"Member {n}"
        status, body = await live.api(
            "POST",
            f"/api/conversations/{group['id']}/group/join-requests/{pending[-1]['id']}/approve",
            token,
        )
        assert status == 200, body
        await graph.settle()  # the participants_add webhook: "joined"
    _, detail = await live.api("GET", f"/api/conversations/{group['id']}", token)
    assert len(detail["conversation"]["group"]["participants"]) == 8  # the host included

    # WhatsApp lets nobody else in; an already pending request cannot be approved either.
    assert graph.join(group_id, "491510000099", "Late") is None
    graph.groups[group_id].requests["late-1"] = ("491510000099", "Late", 0)  # asked earlier
    late = graph.group_webhook(
        "group_participants_update",
        {
            "group_id": group_id,
            "type": "group_join_request_created",
            "join_request_id": "late-1",
            "wa_id": "491510000099",
            "profile": {"name": "Late"},
        },
    )
    await _hook(live, graph, account_id, late)
    status, refused = await live.api(
        "POST", f"/api/conversations/{group['id']}/group/join-requests/late-1/approve", token
    )
    assert status == 409 and refused["error"]["code"] == "group_full"
    status, body = await live.api(
        "POST", f"/api/conversations/{group['id']}/group/join-requests/late-1/reject", token
    )
    assert status == 200
    lines = await _lines(live, group["id"])
    assert "Alice rejected the join request of Late (+491510000099)" in lines
    assert sum("joined the group" in line for line in lines) == 7


async def test_permissions_suspension_and_the_read_only_archive(
    wa: tuple[LiveServer, str], graph: FakeGraph
) -> None:
    live, account_id = wa
    bob = await live.token("bob")
    status, refused = await live.api(
        "POST", "/api/groups", bob, {"account_id": account_id, "subject": "Not allowed"}
    )
    assert status == 403 and refused["error"]["code"] == "group_permission"
    assert not graph.groups  # nothing was asked of WhatsApp

    group = await _create(live, graph, account_id)
    group_id = group["group"]["group_id"]
    await _hook(live, graph, account_id, graph.join(group_id, MEMBER, "Jonas"))
    path = f"/api/conversations/{group['id']}"
    status, refused = await live.api("DELETE", f"{path}/group/participants/{MEMBER}", bob)
    assert status == 403
    status, refused = await live.api("DELETE", f"{path}/group", bob)
    assert status == 403
    assert MEMBER in graph.groups[group_id].members and not graph.groups[group_id].deleted

    alice = await live.token("alice")
    status, body = await live.api("DELETE", f"{path}/group/participants/{MEMBER}", alice)
    assert status == 200, body
    await graph.settle()
    assert MEMBER not in graph.groups[group_id].members
    lines = await _lines(live, group["id"])
    assert lines.count("Jonas (+4915123456789) was removed by Alice") == 1

    # Meta suspends the group: sends are refused with a clear reason until it lifts.
    await _hook(live, graph, account_id, graph.suspend(group_id))
    status, refused = await live.api("POST", f"{path}/messages", bob, {"text": "Hello?"})
    assert status == 400 and refused["error"]["code"] == "group_suspended"
    assert "suspended" in refused["error"]["message"]
    await _hook(live, graph, account_id, graph.suspend(group_id, lifted=True))
    status, _ = await live.api("POST", f"{path}/messages", bob, {"text": "Back again"})
    assert status == 201

    # Alice deletes it: WhatsApp dissolves it, the conversation stays as a read-only archive.
    status, body = await live.api("DELETE", f"{path}/group", alice)
    assert status == 200, body
    archived = body["conversation"]["group"]
    assert archived["state"] == "deleted" and archived["deleted_by"] == "Alice"
    assert graph.groups[group_id].deleted
    await graph.settle()
    status, refused = await live.api("POST", f"{path}/messages", bob, {"text": "Anyone?"})
    assert status == 400 and refused["error"]["code"] == "group_deleted"
    _, page = await live.api("GET", f"{path}/messages", bob)
    texts = [m["text"] for m in page["messages"]]
    assert "Back again" in texts
    assert sum(t.startswith("Alice deleted the group on ") for t in texts) == 1
    _, detail = await live.api("GET", path, bob)
    assert [p["role"] for p in detail["conversation"]["group"]["participants"]] == ["admin"]
