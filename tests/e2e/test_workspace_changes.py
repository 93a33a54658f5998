"""Shared records changed by an admin reach every open client at once: they are told which
kind changed and refresh, so a new tag or template is offered without a reload."""

from __future__ import annotations

from tests.fixtures.server import LiveServer


async def test_agents_hear_that_tags_templates_and_users_changed(live: LiveServer) -> None:
    alice = await live.connect("alice")
    bob = await live.connect("bob")
    admin = await live.token("admin")

    status, body = await live.api("POST", "/api/tags", admin, {"name": "VIP", "color": "#aa00ff"})
    assert status == 201, body
    for agent in (alice, bob):
        changed = await agent.wait_for(
            lambda name, data: name == "workspace.changed" and data["kind"] == "tags"
        )
        assert changed == [{"kind": "tags"}]  # once per write, nothing secret in it

    status, body = await live.api(
        "POST",
        "/api/templates",
        admin,
        {
            "account_id": live.shop.id,
            "name": "Greeting",
            "content": "Hello {{customer_name}}",
            "type": "reply",
        },
    )
    assert status == 201, body
    await alice.wait_for(
        lambda name, data: name == "workspace.changed" and data["kind"] == "templates"
    )

    # A refused write announces nothing.
    before = len(bob.of_type("workspace.changed"))
    status, _ = await live.api("POST", "/api/tags", admin, {"name": ""})
    assert status == 400
    status, _ = await live.api(
        "PATCH", f"/api/users/{live.users['bob'].id}", admin, {"name": "Robert"}
    )
    assert status == 200
    users = await bob.wait_for(
        lambda name, data: name == "workspace.changed" and data["kind"] == "users"
    )
    assert len(users) == 1
    assert len(bob.of_type("workspace.changed")) == before + 1
