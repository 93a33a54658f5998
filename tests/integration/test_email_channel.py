"""The email channel against real servers: Dovecot (IMAP, IDLE) and aiosmtpd (SMTP).

Customers are played by APPENDing mail into the account's INBOX, as a delivery would. Agents
see it over Socket.IO; their replies come out of the SMTP server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from tests.fixtures.dovecot import Dovecot, SmtpRecorder
from tests.fixtures.server import LiveServer, start_live_server, stop_live_server

pytestmark = pytest.mark.services

MAIL_SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def email(
    sender: str,
    subject: str,
    text: str,
    message_id: str,
    *,
    name: str = "Carla Customer",
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [
        f"From: {name} <{sender}>",
        "To: support@shop.example",
        f"Subject: {subject}",
        f"Message-ID: <{message_id}>",
        "Date: Tue, 25 Nov 2025 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    return ("\r\n".join([*lines, "", text, ""])).encode()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Retry `check` until it returns something truthy (readiness, not timing)."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


async def create_account(
    live: LiveServer, dovecot: Dovecot, smtp: SmtpRecorder, password: str | None = None
) -> tuple[dict[str, Any], str, str]:
    address, real_password = dovecot.add_user()
    admin = await live.token("admin")
    status, body = await live.api(
        "POST",
        "/api/accounts",
        admin,
        {
            "kind": "email",
            "name": "Support mail",
            "settings": {
                **dovecot.settings(address, smtp.port),
                "signature_html": "<p>Shop <b>Support</b> team</p>",
            },
            "secrets": {"password": password or real_password},
            "authorized": [{"user_id": "usr_alice"}, {"user_id": "usr_bob"}],
        },
    )
    assert status == 201, body
    return body["account"], address, real_password


async def account_state(live: LiveServer, account_id: str) -> dict[str, Any]:
    status, body = await live.api("GET", f"/api/accounts/{account_id}", await live.token("admin"))
    assert status == 200, body
    account: dict[str, Any] = body["account"]
    return account


async def wait_synced(live: LiveServer, account_id: str) -> None:
    """The account's IMAP session has selected INBOX and knows where it stands."""

    async def synced() -> bool:
        return bool((await account_state(live, account_id))["sync_state"].get("imap"))

    await eventually(synced)


async def messages(live: LiveServer, conversation_id: str) -> list[dict[str, Any]]:
    """The customer's messages of a conversation."""
    status, body = await live.api(
        "GET", f"/api/conversations/{conversation_id}/messages", await live.token("alice")
    )
    assert status == 200, body
    return [m for m in body["messages"] if m["kind"] == "inbound"]


def created(text: str) -> Callable[[str, dict[str, Any]], bool]:
    def match(name: str, data: dict[str, Any]) -> bool:
        return name == "message.created" and text in data["data"]["message"]["text"]

    return match


async def test_idle_push_restart_and_duplicates(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpRecorder
) -> None:
    live = await start_live_server(tmp_path / "data")
    try:
        account, address, password = await create_account(live, dovecot, smtp_server)
        await wait_synced(live, account["id"])
        alice = await live.connect("alice")

        # Pushed by IDLE: the agent sees it without anyone asking the server.
        await asyncio.to_thread(
            dovecot.append,
            address,
            password,
            email("carla@customer.example", "Broken lamp", "The lamp arrived broken", "c1@cust"),
        )
        event = (await alice.wait_for(created("arrived broken"), timeout=15))[0]
        conversation = event["data"]["conversation"]
        assert conversation["subject"] == "Broken lamp"
        assert conversation["channel"] == "email"
        sender = event["data"]["message"]["sender"]
        assert sender["name"] == "Carla Customer"

        # The same Message-ID twice (a redelivery, a copy in another folder moved back).
        same = email("carla@customer.example", "Broken lamp", "The lamp arrived broken", "c1@cust")
        await asyncio.to_thread(dovecot.append, address, password, same)
        await asyncio.to_thread(
            dovecot.append,
            address,
            password,
            email("carla@customer.example", "Broken lamp", "Photo follows", "c2@cust"),
        )
        await alice.wait_for(created("Photo follows"), timeout=15)
        texts = [m["text"] for m in await messages(live, conversation["id"])]
        assert texts.count("The lamp arrived broken") == 1
    finally:
        await stop_live_server(live)

    # Mail that arrives while the server is down is imported at the next start, and nothing
    # imported before comes back.
    await asyncio.to_thread(
        dovecot.append,
        address,
        password,
        email("carla@customer.example", "Broken lamp", "Are you there?", "c3@cust"),
    )
    live = await start_live_server(tmp_path / "data")
    try:
        alice = await live.connect("alice")

        async def all_three() -> list[str]:
            texts = [m["text"] for m in await messages(live, conversation["id"])]
            return texts if "Are you there?" in texts else []

        texts = await eventually(all_three)
        assert sorted(texts) == sorted(
            ["The lamp arrived broken", "Photo follows", "Are you there?"]
        )
        # Still connected for push after the restart.
        await asyncio.to_thread(
            dovecot.append,
            address,
            password,
            email("carla@customer.example", "Broken lamp", "Hello again", "c4@cust"),
        )
        await alice.wait_for(created("Hello again"), timeout=15)
    finally:
        await stop_live_server(live)


async def test_reply_goes_out_by_smtp_and_the_answer_threads(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpRecorder
) -> None:
    live = await start_live_server(tmp_path / "data")
    try:
        account, address, password = await create_account(live, dovecot, smtp_server)
        await wait_synced(live, account["id"])
        alice = await live.connect("alice")
        await asyncio.to_thread(
            dovecot.append,
            address,
            password,
            email(
                "dora@customer.example",
                "Invoice question",
                "Why two invoices?",
                "d1@cust",
                name="Dora Díaz",
                headers={"References": "<older@cust>"},
            ),
        )
        event = (await alice.wait_for(created("two invoices"), timeout=15))[0]
        conversation_id = event["conversation_id"]

        ack = await alice.call(
            "message.send", {"conversation_id": conversation_id, "text": "One is a credit note."}
        )
        assert ack["ok"], ack
        reply_id = ack["message"]["id"]
        await alice.wait_for(
            lambda n, d: (
                n == "message.status"
                and d["data"]["message_id"] == reply_id
                and d["data"]["status"] == "sent"
            ),
            timeout=15,
        )
        assert len(smtp_server.received) == 1
        sent = smtp_server.received[0]
        assert sent.rcpt_tos == ["dora@customer.example"]
        assert sent.login == address  # logged in with the account's credentials
        mail = sent.message
        assert str(mail["From"]) == f"Shop Support <{address}>"
        assert str(mail["To"]) == "Dora Díaz <dora@customer.example>"
        assert str(mail["Subject"]) == "Re: Invoice question"
        assert str(mail["In-Reply-To"]) == "<d1@cust>"
        assert str(mail["References"]).split() == ["<d1@cust>"]
        our_message_id = str(mail["Message-ID"]).strip("<>")
        plain = mail.get_body(preferencelist=("plain",))
        html = mail.get_body(preferencelist=("html",))
        assert plain is not None and html is not None
        assert "One is a credit note." in plain.get_content()
        assert "Shop Support team" in plain.get_content()  # the signature, as text
        assert "<b>Support</b>" in html.get_content()

        # A colleague of the customer answers our mail: it lands in the same conversation.
        await asyncio.to_thread(
            dovecot.append,
            address,
            password,
            email(
                "erik@customer.example",
                "Re: Invoice question",
                "Thanks, understood.",
                "e1@cust",
                name="Erik",
                headers={
                    "In-Reply-To": f"<{our_message_id}>",
                    "References": f"<d1@cust> <{our_message_id}>",
                },
            ),
        )
        answer = (await alice.wait_for(created("understood"), timeout=15))[0]
        assert answer["conversation_id"] == conversation_id
        assert answer["data"]["message"]["sender"]["name"] == "Erik"

        # A refused recipient: the agent sees the failure and the server's reason.
        await asyncio.to_thread(
            dovecot.append,
            address,
            password,
            email("nobody@refuse.example", "Hi", "Please call me", "f1@cust"),
        )
        doomed = (await alice.wait_for(created("call me"), timeout=15))[0]
        ack = await alice.call(
            "message.send", {"conversation_id": doomed["conversation_id"], "text": "Sure"}
        )
        failed = await alice.wait_for(
            lambda n, d: (
                n == "message.status"
                and d["data"]["message_id"] == ack["message"]["id"]
                and d["data"]["status"] == "failed"
            ),
            timeout=15,
        )
        assert "550" in failed[0]["data"]["reason"]
    finally:
        await stop_live_server(live)


async def test_wrong_password_shows_error_and_never_leaks(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpRecorder
) -> None:
    wrong = "Wr0ng-Secret-Pa55"
    with capture_logs() as logs:
        live = await start_live_server(tmp_path / "data")
        try:
            account, _, password = await create_account(live, dovecot, smtp_server, wrong)
            admin = await live.token("admin")

            async def in_error() -> dict[str, Any] | None:
                state = await account_state(live, account["id"])
                return state if state["status"] == "error" else None

            state = await eventually(in_error)
            assert "IMAP login failed" in state["status_reason"]
            assert "Authentication failed" in state["status_reason"]
            assert state["secrets"] == ["password"]

            status, tested = await live.api("POST", f"/api/accounts/{account['id']}/test", admin)
            assert status == 200
            assert tested["imap"]["ok"] is False and "login failed" in tested["imap"]["error"]
            assert tested["smtp"]["ok"] is False and "535" in tested["smtp"]["error"]
            _, listed = await live.api("GET", "/api/accounts", admin)
            responses = orjson.dumps([state, tested, listed]).decode()
            assert wrong not in responses

            # The admin enters the right password: the account connects and is Active again.
            status, body = await live.api(
                "PATCH",
                f"/api/accounts/{account['id']}",
                admin,
                {"secrets": {"password": password}},
            )
            assert status == 200, body
            assert password not in orjson.dumps(body).decode()

            async def active() -> bool:
                return (await account_state(live, account["id"]))["status"] == "active"

            await eventually(active)
            status, tested = await live.api("POST", f"/api/accounts/{account['id']}/test", admin)
            assert tested == {
                "imap": {"ok": True, "error": None},
                "smtp": {"ok": True, "error": None},
            }
        finally:
            await stop_live_server(live)
    assert any(entry["event"] == "email.login_failed" for entry in logs)
    logged = orjson.dumps(logs, default=str).decode()
    assert wrong not in logged
    assert password not in logged


async def test_invalid_email_settings_are_refused_clearly(live: LiveServer) -> None:
    admin = await live.token("admin")
    base = {"kind": "email", "name": "Mail", "secrets": {"password": "x"}}
    cases = [
        ({"imap_host": "imap.example.com", "smtp_host": "smtp.example.com"}, "address"),
        (
            {"address": "a@b.example", "imap_host": "bad host!", "smtp_host": "smtp.example.com"},
            "imap_host",
        ),
        (
            {
                "address": "a@b.example",
                "imap_host": "imap.example.com",
                "imap_security": "starttls",
                "smtp_host": "smtp.example.com",
            },
            "STARTTLS",
        ),
        (
            {
                "address": "a@b.example",
                "imap_host": "imap.example.com",
                "smtp_host": "smtp.example.com",
                "smtp_port": 70000,
            },
            "smtp_port",
        ),
    ]
    for settings, expected in cases:
        status, body = await live.api(
            "POST", "/api/accounts", admin, {**base, "settings": settings}
        )
        assert status == 400, body
        assert expected in body["error"]["message"]
    settings = {"address": "a@b.example", "imap_host": "imap.example.com", "smtp_host": "s.example"}
    status, body = await live.api(
        "POST", "/api/accounts", admin, {"kind": "email", "name": "Mail", "settings": settings}
    )
    assert status == 400 and "password" in body["error"]["message"]


async def test_hostile_mail_is_contained(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpRecorder
) -> None:
    with capture_logs() as logs:
        live = await start_live_server(tmp_path / "data")
        try:
            account, address, password = await create_account(live, dovecot, smtp_server)
            await wait_synced(live, account["id"])
            alice = await live.connect("alice")
            for sample in sorted(MAIL_SAMPLES.glob("*.eml")):
                await asyncio.to_thread(dovecot.append, address, password, sample.read_bytes())
            await asyncio.to_thread(
                dovecot.append,
                address,
                password,
                email("after@customer.example", "Normal", "A normal mail after all that", "n1@c"),
            )
            await alice.wait_for(created("normal mail after"), timeout=15)
            stored = {
                d["data"]["message"]["sender"]["name"]: d["data"]
                for d in alice.of_type("message.created")
            }
        finally:
            await stop_live_server(live)

    encoded = stored["Jürgen Müller"]
    assert encoded["conversation"]["subject"] == "Preisänderung für Bestellung"
    assert "Grüße aus Köln" in encoded["message"]["text"]
    assert "Order 4711" in stored["Bad Charset"]["message"]["text"]
    nested = stored["Deep Nest"]["message"]
    assert "Top level text survives." in nested["text"]
    assert "nested too deeply" in nested["text"]
    assert [a["filename"] for a in nested["attachments"]] == ["invoice.pdf"]
    html = stored["Script Kiddie"]["message"]["html"]
    assert "<b>team</b>" in html
    assert "script" not in html and "onclick" not in html and "javascript:" not in html
    refused = [e for e in logs if e["event"] == "email.refused"]
    assert any("no usable From" in e["reason"] for e in refused)
    assert "Who sent this?" not in orjson.dumps(stored).decode()


async def test_connection_test_before_saving_stores_nothing(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpRecorder
) -> None:
    live = await start_live_server(tmp_path / "data")
    try:
        address, password = dovecot.add_user()
        admin = await live.token("admin")
        form = {"kind": "email", "settings": dovecot.settings(address, smtp_server.port)}
        _, before = await live.api("GET", "/api/accounts", admin)

        status, tested = await live.api(
            "POST", "/api/accounts/test", admin, {**form, "secrets": {"password": "not-it-1"}}
        )
        assert status == 200, tested
        assert tested["imap"]["ok"] is False and "login failed" in tested["imap"]["error"]
        assert "not-it-1" not in orjson.dumps(tested).decode()

        status, tested = await live.api(
            "POST", "/api/accounts/test", admin, {**form, "secrets": {"password": password}}
        )
        assert tested == {"imap": {"ok": True, "error": None}, "smtp": {"ok": True, "error": None}}
        _, after = await live.api("GET", "/api/accounts", admin)
        assert after == before  # nothing was saved

        status, refused = await live.api(
            "POST", "/api/accounts/test", admin, {"kind": "email", "settings": {"address": "x"}}
        )
        assert status == 400 and "settings.address" in refused["error"]["message"]
        agent = await live.token("alice")
        status, _ = await live.api("POST", "/api/accounts/test", agent, form)
        assert status == 403
    finally:
        await stop_live_server(live)
