"""Sessions end when they should: a password change or "log out everywhere" ends the user's
other sessions at once, over HTTP and on open Socket.IO connections."""

from __future__ import annotations

import asyncio

from tests.fixtures.server import PASSWORD, LiveServer

NEW_PASSWORD = "a much longer passphrase"


async def _me(live: LiveServer, token: str) -> int:
    status, _ = await live.api("GET", "/api/me", token)
    return status


async def _wait_disconnected(live: LiveServer, agent_index: int) -> None:
    client = live.agents[agent_index].client
    gone = asyncio.Event()
    client.on("disconnect", lambda *_: gone.set())
    if client.connected:
        await asyncio.wait_for(gone.wait(), timeout=5)


async def test_own_password_change_ends_the_other_sessions_but_keeps_this_one(
    live: LiveServer,
) -> None:
    laptop, phone = await live.token("alice"), await live.token("alice")
    await live.connect("alice", phone)
    bob = await live.token("bob")
    assert await _me(live, phone) == 200  # cached on the server from now on

    status, body = await live.api(
        "PATCH", "/api/me", laptop, {"current_password": PASSWORD, "password": NEW_PASSWORD}
    )
    assert status == 200, body
    assert "sessions_valid_from" not in body["user"]

    status, body = await live.api("GET", "/api/me", phone)
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    assert "password changed" in body["error"]["message"]
    await _wait_disconnected(live, 0)  # the phone's open socket is closed too
    assert await _me(live, laptop) == 200  # the tab that changed it stays logged in
    assert await _me(live, bob) == 200  # nobody else is touched
    # The old password is gone, the new one works.
    async with live.http.post(
        f"{live.url}/api/tokens", json={"email": "alice@test.example", "password": PASSWORD}
    ) as response:
        assert response.status == 401
    async with live.http.post(
        f"{live.url}/api/tokens", json={"email": "alice@test.example", "password": NEW_PASSWORD}
    ) as response:
        assert response.status == 200


async def test_admin_password_reset_logs_the_user_out_everywhere(live: LiveServer) -> None:
    alice = await live.token("alice")
    await live.connect("alice", alice)
    admin = await live.token("admin")
    assert await _me(live, alice) == 200

    status, body = await live.api(
        "PATCH", f"/api/users/{live.users['alice'].id}", admin, {"password": NEW_PASSWORD}
    )
    assert status == 200, body
    assert await _me(live, alice) == 401
    await _wait_disconnected(live, 0)
    assert await _me(live, admin) == 200


async def test_log_out_everywhere(live: LiveServer) -> None:
    first, second = await live.token("bob"), await live.token("bob")
    await live.connect("bob", second)
    status, _ = await live.api("POST", "/api/logout?everywhere=true", first)
    assert status == 200
    assert await _me(live, first) == 401
    assert await _me(live, second) == 401
    await _wait_disconnected(live, 0)
    # A new login works at once.
    assert await _me(live, await live.token("bob")) == 200
