"""server.records: the pure field checks, and the checked writes against a real SqliteStore."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.actors.account import AccountActor
from server.actors.runtime import Actor, ActorSystem
from server.blobs import FileBlobStore, sanitize_content_type, sanitize_filename
from server.domain.errors import Conflict, Forbidden, Invalid, NotFound
from server.domain.models import Branch, ChannelAccount, Role, Tag, User
from server.domain.passwords import verify_password
from server.realtime.hub import EventHub
from server.realtime.presence import LocalPresence
from server.records import (
    Records,
    clean_branches,
    clean_color,
    clean_custom_fields,
    clean_email,
    clean_grants,
    clean_labels,
    clean_phone,
    clean_secrets,
    clean_settings,
    clean_time_zone,
    text_field,
)
from server.store.sqlite import SqliteStore
from server.workspace import Workspace

ADMIN = User(id="usr_admin", email="admin@x.example", name="Ada", role=Role.ADMIN)
AGENT = User(id="usr_agent", email="agent@x.example", name="Al")


# ---------------------------------------------------------------------------- pure checks
def test_text_field() -> None:
    assert text_field({"name": "  Ann "}, "name") == "Ann"
    assert text_field({}, "name") is None
    assert text_field({"name": None}, "name") is None
    assert text_field({"d": ""}, "d", allow_empty=True) == ""
    for data, message in (
        ({}, "name is required"),
        ({"name": 3}, "name must be a string"),
        ({"name": "  "}, "name must not be empty"),
        ({"name": "x" * 201}, "name must be at most 200 characters"),
    ):
        with pytest.raises(Invalid, match=message):
            text_field(data, "name", required=True)


def test_scalar_checks() -> None:
    assert clean_email(" Ann@Example.COM ") == "ann@example.com"
    assert clean_phone("+49 30 1234567") == "+49 30 1234567"
    assert clean_time_zone("Europe/Berlin") == "Europe/Berlin"
    assert clean_color("#A1B2C3") == "#a1b2c3"
    assert clean_labels([" a ", "b", "a", ""]) == ["a", "b"]
    for check, bad in (
        (clean_email, "no-at-sign"),
        (clean_email, "a@b"),
        (clean_phone, "call me"),
        (clean_time_zone, "Nowhere/City"),
        (clean_time_zone, "../etc"),
        (clean_color, "red"),
        (clean_color, "#12345"),
    ):
        with pytest.raises(Invalid):
            check(bad)
    with pytest.raises(Invalid):
        clean_labels("a,b")
    with pytest.raises(Invalid):
        clean_labels(["x" * 65])


def test_custom_fields_are_flat_scalars() -> None:
    fields = {"tier": "gold", "seats": 3, "ratio": 0.5, "vip": True, "none": None}
    assert clean_custom_fields(fields) == fields
    for bad in ({"x": [1]}, {"x": {"y": 1}}, {"": 1}, {"x": "y" * 1001}, [1], "x"):
        with pytest.raises(Invalid):
            clean_custom_fields(bad)
    with pytest.raises(Invalid):
        clean_custom_fields({f"k{i}": i for i in range(51)})


def test_settings_secrets_and_grants() -> None:
    assert clean_settings({"webhook_url": "https://h.example/x", "n": 1})["n"] == 1
    bad: Any
    for bad in (
        {"webhook_url": "javascript:alert(1)"},
        {"webhook_url": 5},
        [],
        {"x": "y" * 20_000},
    ):
        with pytest.raises(Invalid):
            clean_settings(bad)
    assert clean_secrets({"imap_password": "p", "old": None}) == {"imap_password": "p", "old": None}
    for bad_secrets in ({"bad name": "x"}, {"k": 5}, ["k"]):
        with pytest.raises(Invalid):
            clean_secrets(bad_secrets)
    grants = clean_grants([{"user_id": "u1", "can_reassign": True}, {"user_id": "u1"}])
    assert [(g.user_id, g.can_reassign) for g in grants] == [("u1", False)]  # last one wins
    for bad_grants in ([{"id": "u1"}], [{"user_id": "u1", "can_reassign": "yes"}], {"u": 1}):
        with pytest.raises(Invalid):
            clean_grants(bad_grants)


def test_branches_keep_known_ids_and_get_new_ones() -> None:
    existing = [Branch(id="br_1", name="Lyon")]
    branches = clean_branches([{"id": "br_1", "name": "Lyon 2"}, {"name": "Oslo"}], existing)
    assert branches[0].id == "br_1" and branches[0].name == "Lyon 2"
    assert branches[1].id.startswith("br_") and branches[1].id != "br_1"
    with pytest.raises(NotFound):
        clean_branches([{"id": "br_other", "name": "X"}], existing)
    with pytest.raises(Invalid):
        clean_branches([{"id": "br_1", "name": "A"}, {"id": "br_1", "name": "B"}], existing)
    with pytest.raises(Invalid):
        clean_branches([{"address": "no name"}], existing)


def test_upload_names_and_types_are_sanitized() -> None:
    assert sanitize_filename("../../etc/passwd") == "passwd"
    assert sanitize_filename("C:\\Users\\me\\q.pdf") == "q.pdf"
    assert sanitize_filename("a\x00b\r\n.txt") == "ab.txt"
    assert sanitize_filename("  ") == "file"
    assert sanitize_filename('x";.txt') == "x_.txt"
    assert len(sanitize_filename("a" * 500 + ".pdf")) == 200
    assert sanitize_filename("a" * 500 + ".pdf").endswith(".pdf")
    assert sanitize_content_type("Image/PNG; charset=x") == "image/png"
    assert sanitize_content_type("text/html\r\nX-Evil: 1") == "application/octet-stream"
    assert sanitize_content_type(None) == "application/octet-stream"


async def test_file_blob_store_round_trip(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    attachment = await blobs.put(b"hello", "../a.txt", "text/plain")
    assert attachment.filename == "a.txt" and attachment.size == 5
    assert await blobs.get_meta(attachment.id) == attachment
    assert await blobs.open(attachment.id) == (attachment, b"hello")
    assert await blobs.get_meta("att_ffffffffffffffff") is None
    assert await blobs.open("../../etc/passwd") is None
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == [
        attachment.id,
        f"{attachment.id}.json",
    ]


# ---------------------------------------------------------------------------- writes
class _Idle(Actor):
    async def handle_call(self, message: Any) -> Any:
        raise AssertionError("records never talk to conversations")

    async def handle_cast(self, message: Any) -> None:
        raise AssertionError("records never talk to conversations")


@pytest.fixture
async def records(tmp_path: Path) -> AsyncIterator[Records]:
    store = SqliteStore(str(tmp_path / "store.sqlite3"))
    await store.open()
    accounts = ActorSystem("accounts", lambda key: AccountActor(key, store, lambda a: None))
    conversations = ActorSystem("conversations", lambda key: _Idle())
    workspace = Workspace(store, conversations, accounts, EventHub(), LocalPresence())
    for user in (ADMIN, AGENT):
        await store.put(user)
    await workspace.load()
    try:
        yield Records(workspace)
    finally:
        await accounts.shutdown()
        await conversations.shutdown()
        await store.close()


async def test_users_admin_only_hashing_and_last_admin(records: Records) -> None:
    with pytest.raises(Forbidden, match="Only admins can add users"):
        await records.create_user(AGENT, {"email": "n@x.example", "name": "N", "password": "p"})
    user = await records.create_user(
        ADMIN,
        {"email": "N@X.example", "name": "N", "password": "pw-long-enough", "send_key": "none"},
    )
    assert user.email == "n@x.example" and verify_password(user.password_hash, "pw-long-enough")
    assert (await records.workspace.user(user.id)).name == "N"  # cache refreshed
    with pytest.raises(Conflict):
        await records.create_user(
            ADMIN, {"email": "n@x.example", "name": "M", "password": "another-password"}
        )
    with pytest.raises(Invalid, match="at least 8 characters"):
        await records.create_user(
            ADMIN, {"email": "short@x.example", "name": "S", "password": "1234567"}
        )
    with pytest.raises(Invalid, match="at least one admin"):
        await records.update_user(ADMIN, ADMIN.id, {"role": "agent"})
    with pytest.raises(Invalid):
        await records.update_user(ADMIN, user.id, {"role": "owner"})
    with pytest.raises(NotFound):
        await records.update_user(ADMIN, "usr_ghost", {"name": "x"})


async def test_update_me_needs_the_current_password(records: Records) -> None:
    await records.update_user(ADMIN, AGENT.id, {"password": "old-password"})
    with pytest.raises(Invalid, match="current password"):
        await records.update_me(AGENT, {"password": "new-password"})
    with pytest.raises(Invalid, match="current password"):
        await records.update_me(AGENT, {"password": "new-password", "current_password": "wrong"})
    me = await records.update_me(
        AGENT, {"password": "new-password", "current_password": "old-password"}
    )
    assert verify_password(me.password_hash, "new-password")
    with pytest.raises(Invalid, match="cannot change role"):
        await records.update_me(AGENT, {"role": "admin"})


async def test_api_accounts_get_generated_credentials(records: Records) -> None:
    account, credentials = await records.create_account(
        ADMIN,
        {"kind": "api", "name": "Shop", "authorized": [{"user_id": AGENT.id}]},
    )
    assert set(credentials) == {"token", "webhook_secret"}
    stored = await records.store.get(ChannelAccount, account.id)
    assert stored is not None and stored.secrets == credentials
    assert records.workspace.account(account.id).authorized[0].user_id == AGENT.id
    assert records.workspace.visible_account_ids(AGENT) == [account.id]
    with pytest.raises(NotFound):
        await records.update_account(ADMIN, account.id, {"authorized": [{"user_id": "usr_x"}]})
    with pytest.raises(Invalid, match="kind"):
        await records.update_account(ADMIN, account.id, {"kind": "email"})
    mail_settings = {"address": "a@b.example", "imap_host": "i.example", "smtp_host": "s.example"}
    email, none = await records.create_account(
        ADMIN,
        {"kind": "email", "name": "Mail", "settings": mail_settings, "secrets": {"password": "p"}},
    )
    assert none == {} and email.secrets == {"password": "p"}
    updated = await records.update_account(ADMIN, email.id, {"secrets": {"password": "q"}})
    assert updated.secrets == {"password": "q"}
    with pytest.raises(Invalid, match="password is required"):
        await records.update_account(ADMIN, email.id, {"secrets": {"password": None}})


async def test_tags_are_unique_and_soft_deleted(records: Records) -> None:
    tag = await records.create_tag(AGENT, {"name": "Urgent", "color": "#FF0000"})
    with pytest.raises(Conflict):
        await records.create_tag(AGENT, {"name": "URGENT"})
    await records.delete_tag(AGENT, tag.id)
    stored = await records.store.get(Tag, tag.id)
    assert stored is not None and stored.deleted
    assert await records.tags() == []
    with pytest.raises(NotFound):
        await records.update_tag(AGENT, tag.id, {"name": "x"})
    again = await records.create_tag(AGENT, {"name": "urgent"})
    assert again.id != tag.id


async def test_templates_need_a_visible_account(records: Records) -> None:
    account, _ = await records.create_account(ADMIN, {"kind": "api", "name": "Shop"})
    with pytest.raises(Forbidden):
        await records.create_template(
            AGENT, {"account_id": account.id, "name": "T", "content": "x"}
        )
    with pytest.raises(NotFound):
        await records.create_template(ADMIN, {"account_id": "acc_x", "name": "T", "content": "x"})
    template = await records.create_template(
        ADMIN,
        {"account_id": account.id, "name": "T", "content": "x", "labels": ["a"], "type": "window"},
    )
    assert template.type == "window"
    with pytest.raises(Forbidden):
        await records.delete_template(AGENT, template.id)
    with pytest.raises(Invalid):
        await records.update_template(ADMIN, template.id, {"type": "other"})


async def test_customers_and_contacts(records: Records) -> None:
    with pytest.raises(NotFound):
        await records.create_customer(AGENT, {"name": "Acme", "salesman_id": "usr_ghost"})
    customer = await records.create_customer(
        AGENT, {"name": "Acme", "salesman_id": AGENT.id, "branches": [{"name": "HQ"}]}
    )
    contact = await records.create_contact(
        AGENT,
        {"name": "Carla", "customer_id": customer.id, "branch_id": customer.branches[0].id},
    )
    assert (contact.customer_id, contact.branch_id) == (customer.id, customer.branches[0].id)
    with pytest.raises(NotFound):
        await records.update_contact(
            AGENT, contact.id, {"customer_id": customer.id, "branch_id": "b"}
        )
    cleared = await records.update_contact(AGENT, contact.id, {"customer_id": None})
    assert cleared.customer_id is None and cleared.branch_id is None
    assert [c.id for c in await records.search_customers("hq")] == [customer.id]
    assert await records.search_contacts("") == []
