"""What each command does to a conversation (pure decisions, no store)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from server.domain import commands as c
from server.domain.conversation import Outcome, decide
from server.domain.errors import Forbidden, Invalid, NotFound
from server.domain.models import (
    AuthorizedUser,
    ChannelAccount,
    ChannelKind,
    Contact,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    MessageKind,
    Role,
    Tag,
    User,
)

NOW = 1_764_000_000.0
ALICE = User(id="u_alice", email="a@x", name="Alice")
BOB = User(id="u_bob", email="b@x", name="Bob")
ADMIN = User(id="u_admin", email="ad@x", name="Ada", role=Role.ADMIN)
ACCOUNT = ChannelAccount(
    id="acc",
    kind=ChannelKind.API,
    name="Shop",
    authorized=[AuthorizedUser("u_alice", can_reassign=True), AuthorizedUser("u_bob")],
)
CAROL = Contact(id="ct_carol", name="Carol", handles={"api:acc": "carol"})


def inbound(text: str, pid: str) -> c.AppendInbound:
    return c.AppendInbound(account=ACCOUNT, contact=CAROL, provider_message_id=pid, text=text)


def opened() -> Conversation:
    return decide("cnv_1", None, inbound("hello", "p1"), now=NOW).conversation


def apply(state: Conversation, command: c.Command, at: float = NOW + 10) -> Outcome:
    return decide(state.id, state, command, now=at)


def test_first_inbound_creates_the_conversation_with_consecutive_seqs() -> None:
    outcome = decide("cnv_1", None, inbound("hello", "p1"), now=NOW)
    assert [e.type for e in outcome.events] == ["conversation.created", "message.created"]
    assert [e.seq for e in outcome.events] == [1, 2]
    assert outcome.expected_version == 0 and outcome.conversation.version == 1
    assert outcome.conversation.last_message_preview == "hello"
    assert outcome.new_messages[0].seq == 2
    # Every event carries the state after the command, for list views.
    assert outcome.events[1].data["conversation"]["seq"] == 2


def test_each_following_command_continues_the_seq() -> None:
    state = opened()
    second = apply(state, inbound("again", "p2"))
    assert [e.seq for e in second.events] == [3]
    assert second.expected_version == 1 and second.conversation.version == 2


def test_an_inbound_message_reopens_a_resolved_conversation() -> None:
    state = apply(opened(), c.SetStatus(by=ALICE, account=ACCOUNT, status="resolved")).conversation
    assert state.status == ConversationStatus.RESOLVED
    after = apply(state, inbound("one more thing", "p3"), at=NOW + 20)
    assert after.conversation.status == ConversationStatus.OPEN
    assert "status" in after.events[-1].data["changes"]


def test_a_reply_is_queued_for_delivery_and_a_note_is_not() -> None:
    state = opened()
    reply = apply(state, c.PostMessage(by=ALICE, account=ACCOUNT, text="Hi Carol"))
    assert reply.new_messages[0].kind == MessageKind.OUTBOUND
    assert reply.new_messages[0].status == DeliveryStatus.QUEUED
    assert [o.message_id for o in reply.outbox] == [reply.new_messages[0].id]
    note = apply(state, c.PostMessage(by=ALICE, account=ACCOUNT, text="VIP!", note=True))
    assert note.new_messages[0].kind == MessageKind.NOTE
    assert note.outbox == []
    # A note does not replace the customer-facing preview.
    assert note.conversation.last_message_preview == "hello"


def test_send_and_resolve_in_one_command() -> None:
    outcome = apply(opened(), c.PostMessage(by=ALICE, account=ACCOUNT, text="Done", then="resolve"))
    assert outcome.conversation.status == ConversationStatus.RESOLVED
    types = [e.type for e in outcome.events]
    assert types[0] == "message.created" and types[-1] == "conversation.updated"
    assert [e.seq for e in outcome.events] == list(range(3, 3 + len(types)))


def test_assignment_writes_a_system_line_and_notifies_the_assignee() -> None:
    outcome = apply(opened(), c.Assign(by=ALICE, account=ACCOUNT, to_user=BOB, to_team=None))
    assert outcome.conversation.assignee_user_id == "u_bob"
    assert outcome.new_messages[0].kind == MessageKind.SYSTEM
    assert "Alice assigned this conversation to Bob" in outcome.new_messages[0].text
    assert [n.user_id for n in outcome.notifications] == ["u_bob"]


def test_an_agent_without_reassign_cannot_take_a_colleagues_conversation() -> None:
    state = apply(opened(), c.Assign(by=ALICE, account=ACCOUNT, to_user=ALICE, to_team=None))
    with pytest.raises(Forbidden):
        apply(state.conversation, c.Assign(by=BOB, account=ACCOUNT, to_user=BOB, to_team=None))


def test_repeating_a_command_that_changes_nothing_emits_nothing() -> None:
    state = apply(opened(), c.AddTag(by=ALICE, account=ACCOUNT, tag=Tag(id="t1", name="Urgent")))
    again = apply(
        state.conversation, c.AddTag(by=ALICE, account=ACCOUNT, tag=Tag(id="t1", name="Urgent"))
    )
    assert again.events == [] and not again.changed


def test_snooze_then_wake_resurfaces_and_notifies_the_assignee() -> None:
    state = apply(opened(), c.Assign(by=ALICE, account=ACCOUNT, to_user=ALICE, to_team=None))
    snoozed = apply(state.conversation, c.Snooze(by=ALICE, account=ACCOUNT, until=NOW + 3600))
    assert snoozed.conversation.status == ConversationStatus.SNOOZED
    early = apply(snoozed.conversation, c.Wake(), at=NOW + 60)
    assert early.events == []  # a stale timer changes nothing
    woken = apply(snoozed.conversation, c.Wake(), at=NOW + 3600)
    assert woken.conversation.status == ConversationStatus.OPEN
    assert woken.conversation.snooze_until is None
    assert [n.user_id for n in woken.notifications] == ["u_alice"]


def test_a_snooze_line_names_the_end_in_the_snoozers_zone_and_carries_the_instant() -> None:
    madrid = dataclasses.replace(ALICE, time_zone="Europe/Madrid")
    until = datetime(2026, 11, 27, 8, 0, tzinfo=UTC).timestamp()  # 09:00 in Madrid
    state = apply(opened(), c.Snooze(by=madrid, account=ACCOUNT, until=until), at=until - 7200)
    line = state.new_messages[0]
    assert line.text == "Alice snoozed the conversation until Fri 27 Nov 2026 09:00 CET"
    assert line.data == {"snooze_until": until, "by": "u_alice"}


def test_a_status_line_says_what_changed_and_who_did_it() -> None:
    state = apply(opened(), c.SetStatus(by=ALICE, account=ACCOUNT, status="resolved"))
    assert state.new_messages[0].data == {"status": "resolved", "by": "u_alice"}


def test_snoozing_into_the_past_is_refused() -> None:
    with pytest.raises(Invalid):
        apply(opened(), c.Snooze(by=ALICE, account=ACCOUNT, until=NOW - 1))


def test_delivery_status_only_moves_forward() -> None:
    state = apply(opened(), c.PostMessage(by=ALICE, account=ACCOUNT, text="Hi"))
    message = state.new_messages[0]
    read = decide(
        "cnv_1",
        state.conversation,
        c.ReportDelivery(message.id, DeliveryStatus.READ),
        now=NOW + 20,
        target_message=message,
    )
    assert read.updated_messages[0].status == DeliveryStatus.READ
    late_delivered = decide(
        "cnv_1",
        read.conversation,
        c.ReportDelivery(message.id, DeliveryStatus.DELIVERED),
        now=NOW + 30,
        target_message=read.updated_messages[0],
    )
    assert late_delivered.events == []


def test_a_delivery_report_for_a_message_elsewhere_is_refused() -> None:
    with pytest.raises(NotFound):
        decide(
            "cnv_1",
            opened(),
            c.ReportDelivery("msg_unknown", DeliveryStatus.READ),
            now=NOW,
            target_message=None,
        )


def test_an_agent_cannot_start_a_conversation_with_a_note() -> None:
    with pytest.raises(Invalid):
        decide(
            "cnv_new",
            None,
            c.PostMessage(by=ALICE, account=ACCOUNT, text="psst", note=True, start_with=CAROL),
            now=NOW,
        )


def test_commands_on_an_unknown_conversation_are_not_found() -> None:
    with pytest.raises(NotFound):
        decide("cnv_x", None, c.SetStatus(by=ADMIN, account=ACCOUNT, status="resolved"), now=NOW)
