"""The HTTP JSON API, driven only through HTTP against the app `server.app.build_app` builds.

Only the first admin and two agents are seeded straight into the store (there is no sign-up);
everything else (accounts, grants, tags, messages...) is created through the API itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import SERVER_KEY, Server, build_app
from server.config import Settings
from server.domain.models import Role, User
from server.domain.passwords import hash_password

PASSWORD = "correct horse battery"
MAX_UPLOAD = 64 * 1024

Client = TestClient[web.Request, web.Application]


@dataclass
class Env:
    app: web.Application
    client: Client  # anonymous; send a bearer token per request
    tokens: dict[str, str]
    users: dict[str, User]
    data_dir: Path

    @property
    def server(self) -> Server:
        return self.app[SERVER_KEY]  # type: ignore[return-value]

    async def call(
        self,
        method: str,
        path: str,
        who: str | None = None,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if who is not None:
            sent["Authorization"] = f"Bearer {self.tokens[who]}"
        if raw is not None:
            sent.setdefault("Content-Type", "application/json")
            response = await self.client.request(method, path, data=raw, headers=sent)
        else:
            response = await self.client.request(method, path, json=body, headers=sent)
        async with response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def ok(
        self, method: str, path: str, who: str, body: Any = None, status: int = 200
    ) -> Any:
        got, data = await self.call(method, path, who, body)
        assert got == status, (method, path, got, data)
        return data


async def _seed(server: Server) -> dict[str, User]:
    hashed = hash_password(PASSWORD)
    users = {
        "admin": User(id="usr_admin", email="admin@test.example", name="Ada", role=Role.ADMIN),
        "alice": User(id="usr_alice", email="alice@test.example", name="Alice"),
        "bob": User(id="usr_bob", email="bob@test.example", name="Bob"),
    }
    for user in users.values():
        user.password_hash = hashed
        await server.store.put(user)
        server.workspace.remember_user(user)
    return users


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = Settings(data_dir=tmp_path / "data", max_upload=MAX_UPLOAD)
    app = build_app(settings)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        users = await _seed(app[SERVER_KEY])  # type: ignore[arg-type]
        tokens = {}
        for name, user in users.items():
            response = await client.post(
                "/api/tokens", json={"email": user.email, "password": PASSWORD}
            )
            assert response.status == 200
            tokens[name] = (await response.json())["token"]
        client.session.cookie_jar.clear()
        yield Env(app, client, tokens, users, settings.data_dir)
    finally:
        await client.close()


async def _api_account(env: Env, name: str, agents: list[str]) -> tuple[str, str]:
    """Create an API account (as admin) with these agents authorized: (id, channel token)."""
    body = {
        "kind": "api",
        "name": name,
        "authorized": [{"user_id": env.users[a].id, "can_reassign": True} for a in agents],
    }
    data = await env.ok("POST", "/api/accounts", "admin", body, status=201)
    return data["account"]["id"], data["credentials"]["token"]


async def _inbound(
    env: Env, account_id: str, token: str, message_id: str, sender: str = "cust-1"
) -> tuple[int, Any]:
    body = {"message_id": message_id, "from": {"id": sender, "name": "Carla"}, "text": "Hello?"}
    return await env.call(
        "POST",
        f"/channels/api/{account_id}/messages",
        body=body,
        headers={"Authorization": f"Bearer {token}"},
    )


async def _conversation_ids(env: Env, who: str, query: str = "tab=all") -> list[str]:
    data = await env.ok("GET", f"/api/conversations?{query}", who)
    return [c["id"] for c in data["conversations"]]


# ---------------------------------------------------------------------------- sessions
async def test_login_with_cookie_then_logout(env: Env) -> None:
    response = await env.client.post(
        "/api/login", json={"email": "Alice@Test.example ", "password": PASSWORD}
    )
    assert response.status == 200
    assert (await response.json())["user"]["id"] == "usr_alice"
    cookie = response.headers["Set-Cookie"]
    assert "conv_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Max-Age=1209600" in cookie and "Secure" not in cookie

    me = await env.client.get("/api/me")  # the cookie jar sends the session
    assert me.status == 200
    body = await me.json()
    assert body["user"]["email"] == "alice@test.example"
    assert "password_hash" not in body["user"]

    assert (await env.client.post("/api/logout")).status == 200
    after = await env.client.get("/api/me")
    assert after.status == 401
    assert (await after.json())["error"]["code"] == "unauthenticated"


async def test_bearer_token_and_wrong_password(env: Env) -> None:
    status, data = await env.call("GET", "/api/me", "bob")
    assert status == 200 and data["user"]["name"] == "Bob"

    status, data = await env.call(
        "POST", "/api/login", body={"email": "bob@test.example", "password": "nope"}
    )
    assert status == 401
    assert data == {"error": {"code": "unauthenticated", "message": "Wrong email or password"}}
    status, data = await env.call("POST", "/api/tokens", body={"email": "x@y.z", "password": "a"})
    assert status == 401

    status, data = await env.call("GET", "/api/bootstrap")
    assert status == 401 and data["error"]["code"] == "unauthenticated"
    status, data = await env.call(
        "GET", "/api/me", headers={"Authorization": "Bearer not-a-real-token"}
    )
    assert status == 401

    boot = await env.ok("GET", "/api/bootstrap", "bob")
    assert boot["user"]["id"] == "usr_bob" and "cursor" in boot
    assert all("password_hash" not in u for u in boot["users"])


async def test_update_own_profile_and_password(env: Env) -> None:
    data = await env.ok(
        "PATCH",
        "/api/me",
        "bob",
        {"name": "Robert", "time_zone": "Europe/Paris", "send_key": "ctrl_enter"},
    )
    assert data["user"]["name"] == "Robert" and data["user"]["time_zone"] == "Europe/Paris"
    for bad in ({"time_zone": "Mars/Base"}, {"send_key": "shift"}, {"role": "admin"}):
        status, error = await env.call("PATCH", "/api/me", "bob", bad)
        assert status == 400 and error["error"]["code"] == "invalid", bad
    status, error = await env.call(
        "PATCH", "/api/me", "bob", {"password": "new password!", "current_password": "wrong"}
    )
    assert status == 400 and "current password" in error["error"]["message"]
    await env.ok(
        "PATCH", "/api/me", "bob", {"password": "new password!", "current_password": PASSWORD}
    )
    status, _ = await env.call(
        "POST", "/api/tokens", body={"email": "bob@test.example", "password": "new password!"}
    )
    assert status == 200
    assert (await env.ok("GET", "/api/me", "bob"))["user"]["role"] == "agent"


# ---------------------------------------------------------------------------- errors
async def test_bad_requests_are_refused_clearly_and_nothing_is_stored(env: Env) -> None:
    status, data = await env.call("POST", "/api/tags", "admin", raw=b'{"name": "vip"')
    assert status == 400
    assert data == {"error": {"code": "invalid", "message": "The body must be a JSON object"}}
    status, data = await env.call("POST", "/api/tags", "admin", raw=b'["vip"]')
    assert (status, data["error"]["message"]) == (400, "The body must be a JSON object")
    status, data = await env.call("POST", "/api/tags", "admin", {"name": 7})
    assert (status, data["error"]["code"]) == (400, "invalid")
    assert "name" in data["error"]["message"]

    big = json.dumps({"name": "x", "description": "y" * (1_048_576 + 10)}).encode()
    status, data = await env.call("POST", "/api/tags", "admin", raw=big)
    assert status == 413 and data["error"]["code"] == "too_large"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the read is capped
        yield b'{"name": "x", "description": "'
        for _ in range(20):
            yield b"y" * 65_536
        yield b'"}'

    response = await env.client.post(
        "/api/tags",
        data=chunked(),
        headers={"Authorization": f"Bearer {env.tokens['admin']}"},
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"

    form = aiohttp.FormData()
    form.add_field("file", b"z" * (MAX_UPLOAD + 1), filename="big.bin")
    response = await env.client.post(
        "/api/uploads", data=form, headers={"Authorization": f"Bearer {env.tokens['alice']}"}
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"
    blob_dir = env.data_dir / "blobs"
    assert not blob_dir.exists() or not any(blob_dir.iterdir())

    assert (await env.ok("GET", "/api/tags", "admin"))["tags"] == []

    for method, path in (
        ("GET", "/api/conversations/cnv_nope"),
        ("GET", "/api/conversations/cnv_nope/messages"),
        ("PATCH", "/api/tags/tag_nope"),
        ("GET", "/api/contacts/ct_nope"),
        ("GET", "/api/customers/cus_nope"),
        ("GET", "/api/accounts/acc_nope"),
        ("PATCH", "/api/users/usr_nope"),
        ("GET", "/api/uploads/att_0123456789abcdef"),
        ("GET", "/api/uploads/..%2F..%2Fetc%2Fpasswd"),
        ("GET", "/api/no/such/route"),
    ):
        status, data = await env.call(method, path, "admin", {} if method != "GET" else None)
        assert status == 404, (method, path, data)
        assert data["error"]["code"] == "not_found"

    status, data = await env.call("PUT", "/api/tags", "admin", {})
    assert status == 405 and data["error"]["code"] == "invalid"
    status, data = await env.call("GET", "/api/conversations?after=garbage", "admin")
    assert status == 400 and data["error"]["code"] == "invalid"
    status, data = await env.call("GET", "/api/conversations?tab=everything", "admin")
    assert status == 400

    # Still serving.
    await env.ok("POST", "/api/tags", "admin", {"name": "VIP", "color": "#FF0000"}, status=201)
    assert [t["name"] for t in (await env.ok("GET", "/api/tags", "admin"))["tags"]] == ["VIP"]


async def test_unexpected_errors_answer_500_without_details(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(user: User) -> dict[str, Any]:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(env.server.workspace, "bootstrap", broken)
    status, data = await env.call("GET", "/api/bootstrap", "alice")
    assert status == 500
    assert data == {"error": {"code": "internal", "message": "Internal error"}}
    assert (await env.call("GET", "/api/me", "alice"))[0] == 200


# ---------------------------------------------------------------------------- records
async def test_admin_only_writes_and_users_never_show_password_hashes(env: Env) -> None:
    status, data = await env.call(
        "POST", "/api/users", "alice", {"email": "z@test.example", "name": "Z", "password": "pw"}
    )
    assert status == 403 and data["error"]["message"].startswith("Only admins can")
    status, _ = await env.call("POST", "/api/accounts", "alice", {"kind": "api", "name": "A"})
    assert status == 403
    status, _ = await env.call("POST", "/api/teams", "alice", {"name": "T"})
    assert status == 403

    created = await env.ok(
        "POST",
        "/api/users",
        "admin",
        {
            "email": "Zed@Test.example",
            "name": "Zed",
            "password": "zed-password",
            "time_zone": "Asia/Tokyo",
        },
        status=201,
    )
    assert created["user"]["email"] == "zed@test.example"
    assert "password_hash" not in created["user"]
    status, data = await env.call(
        "POST",
        "/api/users",
        "admin",
        {"email": "zed@test.example", "name": "Z2", "password": "z2-password"},
    )
    assert status == 409 and data["error"]["code"] == "conflict"
    status, data = await env.call(
        "POST", "/api/users", "admin", {"email": "new@test.example", "name": "N", "password": "p"}
    )
    assert status == 400 and "at least 8 characters" in data["error"]["message"]
    status, _ = await env.call(
        "POST", "/api/users", "admin", {"email": "bad", "name": "Z2", "password": "p"}
    )
    assert status == 400
    patched = await env.ok(
        "PATCH", f"/api/users/{created['user']['id']}", "admin", {"role": "admin"}
    )
    assert patched["user"]["role"] == "admin" and "password_hash" not in patched["user"]
    listed = await env.ok("GET", "/api/users", "alice")
    assert {u["email"] for u in listed["users"]} >= {"zed@test.example", "alice@test.example"}
    assert all("password_hash" not in u for u in listed["users"])

    team = await env.ok(
        "POST", "/api/teams", "admin", {"name": "Support", "member_ids": ["usr_alice"]}, status=201
    )
    status, _ = await env.call(
        "PATCH", f"/api/teams/{team['team']['id']}", "admin", {"member_ids": ["usr_ghost"]}
    )
    assert status == 404
    await env.ok("DELETE", f"/api/teams/{team['team']['id']}", "admin")
    assert (await env.ok("GET", "/api/teams", "alice"))["teams"] == []


async def test_accounts_show_secrets_only_once(env: Env) -> None:
    created = await env.ok(
        "POST",
        "/api/accounts",
        "admin",
        {"kind": "api", "name": "Shop", "settings": {"webhook_url": "https://example.test/hook"}},
        status=201,
    )
    credentials = created["credentials"]
    assert len(credentials["token"]) >= 40 and len(credentials["webhook_secret"]) >= 40
    account_id = created["account"]["id"]
    assert created["account"]["secrets"] == ["token", "webhook_secret"]

    email = await env.ok(
        "POST",
        "/api/accounts",
        "admin",
        {
            "kind": "email",
            "name": "Mail",
            "settings": {
                "address": "mail@shop.example",
                "imap_host": "127.0.0.1",
                "imap_port": 1,  # nothing listens: the intake just keeps retrying
                "imap_security": "none",
                "smtp_host": "127.0.0.1",
            },
            "secrets": {"password": "s3cr3t-imap"},
        },
        status=201,
    )
    assert "credentials" not in email

    responses = [
        await env.ok("GET", "/api/accounts", "admin"),
        await env.ok("GET", f"/api/accounts/{account_id}", "admin"),
        await env.ok("PATCH", f"/api/accounts/{account_id}", "admin", {"name": "Shop 2"}),
        await env.ok("POST", f"/api/accounts/{account_id}/pause", "admin"),
        await env.ok("POST", f"/api/accounts/{account_id}/resume", "admin"),
        await env.ok("GET", "/api/bootstrap", "admin"),
        await env.ok("GET", "/openapi.json", "admin"),
    ]
    for body in responses:
        text = json.dumps(body)
        for secret in (credentials["token"], credentials["webhook_secret"], "s3cr3t-imap"):
            assert secret not in text

    status, data = await env.call(
        "PATCH", f"/api/accounts/{account_id}", "admin", {"settings": {"webhook_url": "ftp://x"}}
    )
    assert status == 400 and "webhook_url" in data["error"]["message"]
    status, _ = await env.call(
        "PATCH", f"/api/accounts/{account_id}", "admin", {"secrets": {"token": "mine"}}
    )
    assert status == 400
    status, _ = await env.call("POST", "/api/accounts", "admin", {"kind": "fax", "name": "F"})
    assert status == 400
    status, _ = await env.call("POST", f"/api/accounts/{account_id}/pause", "alice")
    assert status == 403


async def test_tags_contacts_customers_templates(env: Env) -> None:
    tag = (await env.ok("POST", "/api/tags", "alice", {"name": "Urgent"}, status=201))["tag"]
    status, data = await env.call("POST", "/api/tags", "alice", {"name": "urgent"})
    assert status == 409 and data["error"]["code"] == "conflict"
    status, _ = await env.call("POST", "/api/tags", "alice", {"name": "Blue", "color": "blue"})
    assert status == 400
    await env.ok("DELETE", f"/api/tags/{tag['id']}", "alice")
    assert (await env.ok("GET", "/api/tags", "alice"))["tags"] == []
    await env.ok("POST", "/api/tags", "alice", {"name": "URGENT"}, status=201)  # name free again

    status, _ = await env.call(
        "POST", "/api/customers", "alice", {"name": "Acme", "salesman_id": "usr_ghost"}
    )
    assert status == 404
    status, _ = await env.call(
        "POST", "/api/customers", "alice", {"name": "Acme", "custom_fields": {"x": {"nested": 1}}}
    )
    assert status == 400
    customer = (
        await env.ok(
            "POST",
            "/api/customers",
            "alice",
            {
                "name": "Acme",
                "salesman_id": "usr_bob",
                "custom_fields": {"tier": "gold", "seats": 12},
                "branches": [{"name": "Lyon"}, {"name": "Oslo", "address": "Karl Johans gate"}],
            },
            status=201,
        )
    )["customer"]
    lyon = customer["branches"][0]
    assert lyon["id"] and customer["branches"][1]["id"] != lyon["id"]
    patched = await env.ok(
        "PATCH",
        f"/api/customers/{customer['id']}",
        "bob",
        {"branches": [lyon, {"name": "Rome"}]},
    )
    assert [b["name"] for b in patched["customer"]["branches"]] == ["Lyon", "Rome"]
    assert patched["customer"]["branches"][0]["id"] == lyon["id"]
    found = await env.ok("GET", "/api/customers?q=rome", "bob")
    assert [c["id"] for c in found["customers"]] == [customer["id"]]

    contact = (
        await env.ok(
            "POST",
            "/api/contacts",
            "alice",
            {"name": "Carla", "email": "Carla@Acme.example", "customer_id": customer["id"]},
            status=201,
        )
    )["contact"]
    assert contact["email"] == "carla@acme.example"
    assert (await env.ok("GET", "/api/contacts?q=carla", "bob"))["contacts"][0]["id"] == contact[
        "id"
    ]
    status, _ = await env.call("PATCH", f"/api/contacts/{contact['id']}", "bob", {"email": "no"})
    assert status == 400

    account_id, _ = await _api_account(env, "Shop", ["alice"])
    template = (
        await env.ok(
            "POST",
            "/api/templates",
            "alice",
            {
                "account_id": account_id,
                "name": "Greeting",
                "content": "Hi {{contact_name}}",
                "labels": ["hello"],
                "type": "start",
            },
            status=201,
        )
    )["template"]
    status, _ = await env.call(
        "POST",
        "/api/templates",
        "bob",
        {"account_id": account_id, "name": "Sneaky", "content": "x"},
    )
    assert status == 403
    found = await env.ok("GET", "/api/templates?q=hel", "alice")
    assert [t["id"] for t in found["templates"]] == [template["id"]]
    assert (await env.ok("GET", "/api/templates", "bob"))["templates"] == []
    await env.ok("DELETE", f"/api/templates/{template['id']}", "alice")
    assert (await env.ok("GET", "/api/templates", "alice"))["templates"] == []


# ---------------------------------------------------------------------------- API channel
async def test_inbound_creates_a_conversation_and_redelivery_stores_nothing(env: Env) -> None:
    account_id, token = await _api_account(env, "Shop", ["alice"])

    status, data = await _inbound(env, account_id, "wrong-token", "m-1")
    assert status == 401 and data["error"]["code"] == "unauthenticated"
    status, _ = await env.call(
        "POST",
        f"/channels/api/{account_id}/messages",
        body={"message_id": "m-1", "from": {"id": "c"}, "text": "hi"},
    )
    assert status == 401
    status, data = await env.call(
        "POST",
        f"/channels/api/{account_id}/messages",
        body={"message_id": "m-1", "text": "hi"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 400 and data["error"]["message"] == "from.id must be a non-empty string"
    status, _ = await _inbound(env, "acc_unknown", token, "m-1")
    assert status == 404
    assert await _conversation_ids(env, "alice") == []

    status, first = await _inbound(env, account_id, token, "m-1")
    assert status == 201
    assert set(first) == {"message_id", "conversation_id"}
    assert await _conversation_ids(env, "alice") == [first["conversation_id"]]

    status, again = await _inbound(env, account_id, token, "m-1")
    assert status == 200 and again == first
    messages = await env.ok(
        "GET", f"/api/conversations/{first['conversation_id']}/messages", "alice"
    )
    assert [m["id"] for m in messages["messages"]] == [first["message_id"]]

    detail = await env.ok("GET", f"/api/conversations/{first['conversation_id']}", "alice")
    assert detail["conversation"]["id"] == first["conversation_id"]
    assert detail["contact"]["name"] == "Carla"
    assert "token" not in json.dumps(detail["account"]["settings"])

    await env.ok("POST", f"/api/accounts/{account_id}/pause", "admin")
    status, data = await _inbound(env, account_id, token, "m-2")
    assert status == 503
    await env.ok("POST", f"/api/accounts/{account_id}/resume", "admin")
    assert (await _inbound(env, account_id, token, "m-2"))[0] == 201


async def test_delivery_status_reports(env: Env) -> None:
    account_id, token = await _api_account(env, "Shop", ["alice"])
    _, first = await _inbound(env, account_id, token, "m-1")
    conversation_id = first["conversation_id"]
    reply = await env.ok(
        "POST",
        f"/api/conversations/{conversation_id}/messages",
        "alice",
        {"text": "On it", "idempotency_key": "k-1"},
        status=201,
    )
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/channels/api/{account_id}/statuses"
    status, _ = await env.call(
        "POST", path, body={"message_id": reply["message"]["id"], "status": "read"}, headers=headers
    )
    assert status == 200
    status, _data = await env.call(
        "POST", path, body={"message_id": "msg_nope", "status": "read"}, headers=headers
    )
    assert status == 404
    status, _ = await env.call(
        "POST", path, body={"message_id": reply["message"]["id"], "status": "lost"}, headers=headers
    )
    assert status == 400


# ---------------------------------------------------------------------------- conversations
async def test_unauthorized_agent_cannot_list_read_or_act(env: Env) -> None:
    shop_id, shop_token = await _api_account(env, "Shop", ["alice"])
    other_id, other_token = await _api_account(env, "Other", ["bob"])
    _, on_shop = await _inbound(env, shop_id, shop_token, "m-1")
    _, on_other = await _inbound(env, other_id, other_token, "m-1")
    conversation_id = on_shop["conversation_id"]

    assert await _conversation_ids(env, "bob") == [on_other["conversation_id"]]
    assert await _conversation_ids(env, "alice") == [conversation_id]
    assert set(await _conversation_ids(env, "admin")) == {
        conversation_id,
        on_other["conversation_id"],
    }
    status, _ = await env.call("GET", f"/api/conversations?account_id={shop_id}", "bob")
    assert status == 403

    for method, path, body in (
        ("GET", f"/api/conversations/{conversation_id}", None),
        ("GET", f"/api/conversations/{conversation_id}/messages", None),
        ("POST", f"/api/conversations/{conversation_id}/messages", {"text": "hi"}),
        ("POST", f"/api/conversations/{conversation_id}/assign", {"user_id": "usr_bob"}),
        ("POST", f"/api/conversations/{conversation_id}/status", {"status": "resolved"}),
        ("POST", f"/api/conversations/{conversation_id}/tags", {"name": "mine"}),
        ("GET", f"/api/accounts/{shop_id}", None),
    ):
        status, data = await env.call(method, path, "bob", body)
        assert status == 403, (method, path, data)
        assert data["error"]["code"] == "forbidden"
    hits = (await env.ok("GET", "/api/search?q=hello", "bob"))["hits"]
    assert [h["conversation"]["id"] for h in hits] == [on_other["conversation_id"]]
    assert [a["id"] for a in (await env.ok("GET", "/api/accounts", "bob"))["accounts"]] == [
        other_id
    ]

    messages = await env.ok("GET", f"/api/conversations/{conversation_id}/messages", "alice")
    assert len(messages["messages"]) == 1  # nothing bob tried got stored
    detail = await env.ok("GET", f"/api/conversations/{conversation_id}", "alice")
    assert detail["conversation"]["assignee_user_id"] is None
    assert detail["conversation"]["tag_ids"] == []


async def test_retried_message_is_stored_once(env: Env) -> None:
    account_id, token = await _api_account(env, "Shop", ["alice"])
    _, first = await _inbound(env, account_id, token, "m-1")
    path = f"/api/conversations/{first['conversation_id']}/messages"
    body = {"text": "We are on it", "idempotency_key": "retry-1"}
    sent = await env.ok("POST", path, "alice", body, status=201)
    again = await env.ok("POST", path, "alice", body, status=200)
    assert again["message"]["id"] == sent["message"]["id"]
    messages = (await env.ok("GET", path, "alice"))["messages"]
    assert [m["text"] for m in messages] == ["We are on it", "Hello?"]

    for bad in (
        {"text": ""},
        {"text": 5},
        {"text": "x", "note": "yes"},
        {"text": "x", "then": "explode"},
        {"text": "x", "attachments": "att_1"},
        {"text": "x", "idempotency_key": "k" * 200},
    ):
        status, data = await env.call("POST", path, "alice", bad)
        assert status == 400, (bad, data)
    status, _ = await env.call("POST", path, "alice", {"text": "x", "attachments": ["att_nope"]})
    assert status == 404
    assert len((await env.ok("GET", path, "alice"))["messages"]) == 2


async def test_conversation_commands(env: Env) -> None:
    account_id, token = await _api_account(env, "Shop", ["alice", "bob"])
    _, first = await _inbound(env, account_id, token, "m-1")
    base = f"/api/conversations/{first['conversation_id']}"

    assigned = await env.ok("POST", f"{base}/assign", "alice", {"user_id": "usr_alice"})
    assert assigned["conversation"]["assignee_user_id"] == "usr_alice"
    assert await _conversation_ids(env, "alice", "tab=mine") == [first["conversation_id"]]
    assert await _conversation_ids(env, "bob", "tab=mine") == []
    assert await _conversation_ids(env, "bob", "tab=unassigned") == []
    unassigned = await env.ok("POST", f"{base}/assign", "alice", {})
    assert unassigned["conversation"]["assignee_user_id"] is None

    tagged = await env.ok("POST", f"{base}/tags", "alice", {"name": "Billing"})
    (tag_id,) = tagged["conversation"]["tag_ids"]
    assert await _conversation_ids(env, "alice", f"tag=x,{tag_id}") == [first["conversation_id"]]
    untagged = await env.ok("DELETE", f"{base}/tags/{tag_id}", "alice")
    assert untagged["conversation"]["tag_ids"] == []

    snoozed = await env.ok("POST", f"{base}/snooze", "alice", {"preset": "1h"})
    assert snoozed["conversation"]["status"] == "snoozed"
    assert await _conversation_ids(env, "alice", "status=open") == []
    assert await _conversation_ids(env, "alice", "status=open&status=snoozed") == [
        first["conversation_id"]
    ]
    status, _ = await env.call("POST", f"{base}/snooze", "alice", {"until": "soon"})
    assert status == 400
    resolved = await env.ok("POST", f"{base}/status", "alice", {"status": "resolved"})
    assert resolved["conversation"]["status"] == "resolved"
    status, _ = await env.call("POST", f"{base}/status", "alice", {"status": "gone"})
    assert status == 400

    customer = await env.ok(
        "POST",
        "/api/customers",
        "alice",
        {"name": "Acme", "branches": [{"name": "HQ"}]},
        status=201,
    )
    linked = await env.ok(
        "POST",
        f"{base}/customer",
        "alice",
        {
            "customer_id": customer["customer"]["id"],
            "branch_id": customer["customer"]["branches"][0]["id"],
        },
    )
    assert linked["conversation"]["customer_id"] == customer["customer"]["id"]
    detail = await env.ok("GET", base, "alice")
    assert detail["customer"]["name"] == "Acme"
    unlinked = await env.ok("POST", f"{base}/customer", "alice", {"customer_id": None})
    assert unlinked["conversation"]["customer_id"] is None

    template = await env.ok(
        "POST",
        "/api/templates",
        "alice",
        {"account_id": account_id, "name": "Hi", "content": "Hello {{contact_name}}!"},
        status=201,
    )
    rendered = await env.ok(
        "POST", f"{base}/render", "alice", {"template_id": template["template"]["id"]}
    )
    assert rendered == {"text": "Hello Carla!"}

    hits = (await env.ok("GET", "/api/search?q=hello", "alice"))["hits"]
    assert [h["conversation"]["id"] for h in hits] == [first["conversation_id"]]
    status, _ = await env.call("GET", "/api/search?q=", "alice")
    assert status == 400


async def test_start_conversation_and_paging(env: Env) -> None:
    account_id, _ = await _api_account(env, "Shop", ["alice"])
    body = {"account_id": account_id, "to": "ext-1", "text": "Hi", "idempotency_key": "s-1"}
    started = await env.ok("POST", "/api/conversations", "alice", body, status=201)
    again = await env.ok("POST", "/api/conversations", "alice", body, status=200)
    assert again["conversation"]["id"] == started["conversation"]["id"]
    for n in range(2, 4):
        await env.ok(
            "POST",
            "/api/conversations",
            "alice",
            {"account_id": account_id, "to": f"ext-{n}", "text": "Hi"},
            status=201,
        )
    status, _ = await env.call("POST", "/api/conversations", "alice", {"to": "x", "text": "y"})
    assert status == 400

    seen: list[str] = []
    after = ""
    while True:
        page = await env.ok("GET", f"/api/conversations?limit=2&after={after}", "alice")
        seen += [c["id"] for c in page["conversations"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert len(seen) == len(set(seen)) == 3


async def test_upload_and_attach(env: Env) -> None:
    account_id, token = await _api_account(env, "Shop", ["alice"])
    _, first = await _inbound(env, account_id, token, "m-1")
    auth = {"Authorization": f"Bearer {env.tokens['alice']}"}

    form = aiohttp.FormData()
    form.add_field(
        "file", b"%PDF-1.4 hello", filename="../../quote 1.pdf", content_type="application/pdf"
    )
    response = await env.client.post("/api/uploads", data=form, headers=auth)
    assert response.status == 201
    attachment = await response.json()
    assert attachment["filename"] == "quote 1.pdf"
    assert attachment["url"] == f"/api/uploads/{attachment['id']}"
    assert attachment["size"] == 14

    download = await env.client.get(attachment["url"], headers=auth)
    assert download.status == 200
    assert await download.read() == b"%PDF-1.4 hello"
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert (await env.client.get(attachment["url"])).status == 401

    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG....", filename="pic.png", content_type="image/png")
    image = await (await env.client.post("/api/uploads", data=form, headers=auth)).json()
    shown = await env.client.get(image["url"], headers=auth)
    assert shown.headers["Content-Disposition"].startswith("inline;")

    status, _data = await env.call("POST", "/api/uploads", "alice", {"file": "nope"})
    assert status == 400

    sent = await env.ok(
        "POST",
        f"/api/conversations/{first['conversation_id']}/messages",
        "alice",
        {"text": "", "attachments": [attachment["id"]]},
        status=201,
    )
    assert [a["id"] for a in sent["message"]["attachments"]] == [attachment["id"]]


# ---------------------------------------------------------------------------- openapi
async def test_openapi_covers_every_route(env: Env) -> None:
    document = await env.ok("GET", "/openapi.json", "alice")
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    covered = 0
    for route in env.app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "*") or not canonical.startswith(("/api", "/channels")):
            continue
        operation = paths[canonical][route.method.lower()]
        assert operation["summary"], canonical
        covered += 1
    assert covered >= 45
    post = paths["/api/conversations/{id}/messages"]["post"]
    assert {p["name"] for p in post["parameters"]} == {"id"}
    assert "text" in post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "/channels/api/{account_id}/messages" in paths
    # Also served without a session.
    assert (await env.client.get("/openapi.json")).status == 200
