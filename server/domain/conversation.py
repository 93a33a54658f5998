"""What each command does to a conversation: pure decisions, no I/O.

`decide` takes the current state and a command and returns an `Outcome`: the new state, the
messages to insert or update, the events (each with the conversation's next `seq`), outbox items
and notifications. The ConversationActor commits the outcome atomically and publishes its events;
because it is the conversation's only writer, seqs are consecutive and never reused.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.domain import commands as c
from server.domain import delivery, groups, permissions, whatsapp_window
from server.domain.business_hours import auto_reply_text
from server.domain.errors import Conflict, Invalid, NotFound
from server.domain.html import html_to_text
from server.domain.models import (
    ChannelKind,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Event,
    Message,
    MessageKind,
    OutboxItem,
    Sender,
    User,
    new_id,
)

SYSTEM = Sender(type="system", name="System")
ASSISTANT = Sender(type="assistant", id="assistant", name="Assistant")
AUTO_REPLY = Sender(type="system", id="auto-reply", name="Auto-reply")


@dataclass(slots=True)
class Notification:
    user_id: str
    kind: str
    text: str


@dataclass(slots=True)
class Outcome:
    conversation: Conversation
    expected_version: int
    new_messages: list[Message] = field(default_factory=list)
    updated_messages: list[Message] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    duplicate: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.events)

    def reply(self) -> c.Reply:
        return c.Reply(
            conversation=self.conversation,
            message_ids=[m.id for m in self.new_messages],
            duplicate=self.duplicate,
        )


class _Change:
    """Accumulates one command's effects, stamping each event with the next seq."""

    def __init__(self, state: Conversation, *, created: bool, now: float) -> None:
        self.conv = dataclasses.replace(state, tag_ids=list(state.tag_ids))
        self.now = now
        self.outcome = Outcome(
            conversation=self.conv, expected_version=0 if created else state.version
        )
        self.changed_fields: list[str] = []

    def _event(self, type_: str, data: dict[str, Any]) -> Event:
        self.conv.seq += 1
        event = Event(
            type=type_,
            conversation_id=self.conv.id,
            account_id=self.conv.account_id,
            seq=self.conv.seq,
            data=data,
            at=self.now,
        )
        self.outcome.events.append(event)
        return event

    def created(self) -> None:
        self._event("conversation.created", {"conversation": None})

    def add_message(self, message: Message, *, activity: bool = True) -> Message:
        """`activity=False`: the message does not move the conversation up the inbox."""
        message.seq = self.conv.seq + 1
        message.conversation_id = self.conv.id
        message.created_at = self.now
        if message.kind in (MessageKind.INBOUND, MessageKind.OUTBOUND):
            self.conv.last_message_preview = message.preview()
            self.conv.last_message_at = self.now
        if activity:
            self.conv.last_activity_at = self.now
        self.outcome.new_messages.append(message)
        self._event("message.created", {"message": message.to_dict(), "conversation": None})
        return message

    def system_line(self, text: str, data: dict[str, Any] | None = None) -> None:
        """A line in the thread; `data` says what happened for code (metrics) to read."""
        self.add_message(
            Message(
                id=new_id("msg"),
                conversation_id=self.conv.id,
                account_id=self.conv.account_id,
                kind=MessageKind.SYSTEM,
                sender=SYSTEM,
                text=text,
                data=data or {},
            )
        )

    def touch(self, *names: str) -> None:
        self.changed_fields.extend(n for n in names if n not in self.changed_fields)

    def finish(self) -> Outcome:
        if self.changed_fields:
            self._event(
                "conversation.updated", {"conversation": None, "changes": self.changed_fields}
            )
        if self.outcome.events:
            self.conv.version = self.outcome.expected_version + 1
            snapshot = self.conv.to_dict()
            for event in self.outcome.events:
                if "conversation" in event.data:
                    event.data["conversation"] = snapshot
        return self.outcome


def decide(
    conversation_id: str,
    state: Conversation | None,
    command: c.Command,
    *,
    now: float,
    target_message: Message | None = None,
    duplicate_of: Message | None = None,
) -> Outcome:
    """Apply `command` to `state`. `target_message` is the message a delivery report is about;
    `duplicate_of` is an already stored message with the command's idempotency key."""
    if state is None:
        return _create(conversation_id, command, now=now)
    if duplicate_of is not None:
        return Outcome(conversation=state, expected_version=state.version, duplicate=True)
    change = _Change(state, created=False, now=now)
    conv = change.conv
    match command:
        case c.Get():
            pass
        case c.AppendInbound():
            _append_inbound(change, command)
        case c.PostMessage():
            _post(change, command)
        case c.Assign():
            _check_expected_assignee(conv, command)
            permissions.check_assign(
                command.by, command.account, conv, to_user=command.to_user, to_team=command.to_team
            )
            _assign(change, command)
        case c.SetStatus():
            _set_status(change, command.by, command.account, command.status)
        case c.Snooze():
            permissions.check_act(command.by, command.account)
            if command.until <= now:
                raise Invalid("The snooze time must be in the future")
            if conv.status == ConversationStatus.RESOLVED:
                raise Invalid("A resolved conversation cannot be snoozed; reopen it first")
            conv.status = ConversationStatus.SNOOZED
            conv.snooze_until = command.until
            conv.last_activity_at = now
            change.system_line(
                f"{command.by.name} snoozed the conversation until"
                f" {_when(command.until, command.by.time_zone)}",
                {"snooze_until": command.until, "by": command.by.id},
            )
            change.touch("status", "snooze_until")
        case c.Wake():
            if conv.status != ConversationStatus.SNOOZED or (conv.snooze_until or 0) > now + 0.5:
                return change.finish()  # a stale timer: the snooze was cleared or moved
            conv.status = ConversationStatus.OPEN
            conv.snooze_until = None
            conv.last_activity_at = now
            change.system_line("Snooze ended: the conversation is back in the inbox")
            change.touch("status", "snooze_until")
            if conv.assignee_user_id:
                change.outcome.notifications.append(
                    Notification(
                        conv.assignee_user_id, "snooze.ended", "A snoozed conversation is back"
                    )
                )
        case c.AddTag():
            permissions.check_act(command.by, command.account)
            if command.tag.id not in conv.tag_ids:
                conv.tag_ids.append(command.tag.id)
                change.touch("tag_ids")
        case c.RemoveTag():
            permissions.check_act(command.by, command.account)
            if command.tag_id in conv.tag_ids:
                conv.tag_ids.remove(command.tag_id)
                change.touch("tag_ids")
        case c.LinkCustomer():
            permissions.check_act(command.by, command.account)
            if (conv.customer_id, conv.branch_id) != (command.customer_id, command.branch_id):
                conv.customer_id = command.customer_id
                conv.branch_id = command.branch_id if command.customer_id else None
                change.touch("customer_id", "branch_id")
                if command.customer_id:
                    change.system_line(f"{command.by.name} linked customer {command.customer_name}")
        case c.ReportDelivery():
            _report_delivery(change, command, target_message)
        case c.AddAssistantNote():
            _assistant_note(change, command)
        case c.ChangeGroup():
            _change_group(change, command)
        case c.StartGroup():
            raise Conflict("This group conversation exists already")
    return change.finish()


def _create(conversation_id: str, command: c.Command, *, now: float) -> Outcome:
    match command:
        case c.AppendInbound():
            account, contact, subject = command.account, command.contact, command.subject
        case c.PostMessage(start_with=contact) if contact is not None:
            permissions.check_act(command.by, command.account)
            account, subject = command.account, command.subject
            if command.note:
                raise Invalid("A new conversation starts with a message to the customer")
        case c.StartGroup():
            return _start_group(conversation_id, command, now=now)
        case _:
            raise NotFound("No such conversation", code="not_found")
    state = Conversation(
        id=conversation_id,
        account_id=account.id,
        channel=ChannelKind(account.kind),
        contact_id=contact.id,
        subject=subject,
        customer_id=contact.customer_id,
        branch_id=contact.branch_id,
        last_activity_at=now,
        created_at=now,
    )
    change = _Change(state, created=True, now=now)
    change.created()
    if isinstance(command, c.AppendInbound):
        _append_inbound(change, command, first_contact=True)
    else:
        assert isinstance(command, c.PostMessage)
        _post(change, command)
    return change.finish()


def _append_inbound(
    change: _Change, command: c.AppendInbound, *, first_contact: bool = False
) -> None:
    conv = change.conv
    if conv.status != ConversationStatus.OPEN:
        conv.status = delivery.next_status(conv.status, "inbound")
        conv.snooze_until = None
        change.touch("status")
    conv.last_inbound_at = command.received_at or change.now
    if conv.channel == ChannelKind.WHATSAPP and conv.group is None:
        conv.window_expires_at = whatsapp_window.expires_at(conv.last_inbound_at)
    text = command.text or (html_to_text(command.html) if command.html else "")
    change.add_message(
        Message(
            id=new_id("msg"),
            conversation_id=conv.id,
            account_id=conv.account_id,
            kind=MessageKind.INBOUND,
            sender=Sender(type="contact", id=command.contact.id, name=command.contact.name),
            text=text,
            html=command.html,
            attachments=list(command.attachments),
            provider_message_id=command.provider_message_id,
            data=dict(command.data),
        )
    )
    if conv.group is not None:
        return  # auto-replies never fire in groups
    auto_reply = auto_reply_text(
        command.account.settings, first_contact=first_contact, at=change.now
    )
    if auto_reply:
        message = change.add_message(
            Message(
                id=new_id("msg"),
                conversation_id=conv.id,
                account_id=conv.account_id,
                kind=MessageKind.OUTBOUND,
                sender=AUTO_REPLY,
                text=auto_reply,
                status=DeliveryStatus.QUEUED,
            )
        )
        _queue(change, message)


def _queue(change: _Change, message: Message) -> None:
    """Hand an outbound message to the account's outbox, in the same commit."""
    change.outcome.outbox.append(
        OutboxItem(
            id=new_id("obx"),
            account_id=change.conv.account_id,
            conversation_id=change.conv.id,
            message_id=message.id,
            next_attempt_at=change.now,
            created_at=change.now,
        )
    )


def _post(change: _Change, command: c.PostMessage) -> None:
    permissions.check_act(command.by, command.account)
    if not command.text.strip() and not command.html.strip() and not command.attachments:
        raise Invalid("A message needs text or an attachment")
    conv = change.conv
    if conv.group is not None:
        groups.check_send(conv.group, command.template, note=command.note)
    if command.note:
        kind, status = MessageKind.NOTE, None
    else:
        kind, status = MessageKind.OUTBOUND, DeliveryStatus.QUEUED
        if conv.channel == ChannelKind.WHATSAPP and conv.group is None:
            whatsapp_window.check_send(conv.last_inbound_at, change.now, command.template)
    message = change.add_message(
        Message(
            id=new_id("msg"),
            conversation_id=conv.id,
            account_id=conv.account_id,
            kind=kind,
            sender=Sender(type="user", id=command.by.id, name=command.by.name),
            text=command.text,
            html=command.html,
            attachments=list(command.attachments),
            client_key=command.client_key,
            status=status,
            data=dict(command.data),
        )
    )
    if kind == MessageKind.OUTBOUND:
        _queue(change, message)
    if command.then:
        target = {"resolve": "resolved", "pending": "pending", "reopen": "open"}.get(command.then)
        if target is None:
            raise Invalid(f"Unknown follow-up action {command.then!r}")
        _set_status(change, command.by, command.account, target)


def _start_group(conversation_id: str, command: c.StartGroup, *, now: float) -> Outcome:
    groups.check_manage(command.by, command.account)
    group = copy.deepcopy(command.group)
    state = Conversation(
        id=conversation_id,
        account_id=command.account.id,
        channel=ChannelKind.WHATSAPP,
        contact_id=command.contact.id,
        subject=group.subject,
        last_activity_at=now,
        created_at=now,
        group=group,
    )
    change = _Change(state, created=True, now=now)
    change.created()
    change.system_line(
        f"{command.by.name} created the WhatsApp group {group.subject!r}",
        {"group_event": "create_requested", "by": command.by.id},
    )
    return change.finish()


def _change_group(change: _Change, command: c.ChangeGroup) -> None:
    conv = change.conv
    if conv.group is None:
        raise Invalid("This conversation is not a WhatsApp group", code="not_a_group")
    if command.by is not None:
        groups.check_manage(command.by, command.account)
    group = copy.deepcopy(conv.group)
    lines = groups.apply(
        group, command.change, by=command.by.name if command.by else None, now=change.now
    )
    if group == conv.group:
        return
    conv.group = group
    if conv.subject != group.subject:
        conv.subject = group.subject
        change.touch("subject")
    change.touch("group")
    for text, data in lines:
        if command.by is not None:
            data = {**data, "by_user": command.by.id}
        change.system_line(text, data)


def _assistant_note(change: _Change, command: c.AddAssistantNote) -> None:
    """A private note from the assistant. It is the team's aid, not activity: the
    conversation keeps its place in the inbox and its status."""
    change.add_message(
        Message(
            id=new_id("msg"),
            conversation_id=change.conv.id,
            account_id=change.conv.account_id,
            kind=MessageKind.NOTE,
            sender=ASSISTANT,
            text=command.text,
            client_key=command.client_key,
            data={**command.data, "message_id": command.inbound_message_id},
        ),
        activity=False,
    )


def _check_expected_assignee(conv: Conversation, command: c.Assign) -> None:
    """Checked before permissions: when the assignment moved, that is the news to tell."""
    current = (conv.assignee_user_id, conv.assignee_team_id)
    if command.expected is not None and tuple(command.expected) != current:
        raise Conflict(
            "Someone else changed the assignment a moment ago: look again and retry",
            code="assignment_conflict",
        )


def _assign(change: _Change, command: c.Assign) -> None:
    conv = change.conv
    new_user = command.to_user.id if command.to_user else None
    new_team = command.to_team.id if command.to_team else None
    if (conv.assignee_user_id, conv.assignee_team_id) == (new_user, new_team):
        return
    conv.assignee_user_id, conv.assignee_team_id = new_user, new_team
    if new_user is not None:
        conv.last_assignee_user_id = new_user
    conv.last_activity_at = change.now
    change.touch("assignee_user_id", "assignee_team_id")
    if command.to_user is None and command.to_team is None:
        change.system_line(f"{command.by.name} removed the assignment")
        return
    target = " / ".join(x.name for x in (command.to_team, command.to_user) if x is not None)
    if command.to_user is not None and command.to_user.id == command.by.id:
        change.system_line(f"{command.by.name} self-assigned this conversation")
    else:
        change.system_line(f"{command.by.name} assigned this conversation to {target}")
    if command.to_user is not None and command.to_user.id != command.by.id:
        change.outcome.notifications.append(
            Notification(
                command.to_user.id, "assigned", f"{command.by.name} assigned you a conversation"
            )
        )


_STATUS_ACTIONS = {"resolved": "resolve", "pending": "pending", "open": "reopen"}


def _set_status(change: _Change, by: User, account: Any, status: str) -> None:
    conv = change.conv
    action = _STATUS_ACTIONS.get(status)
    if action is None:
        raise Invalid(f"Unknown status {status!r}: use open, pending or resolved")
    if status == "resolved":
        permissions.check_resolve(by, account, conv)
    else:
        permissions.check_act(by, account)
    if conv.status == status:
        return
    conv.status = delivery.next_status(conv.status, action)
    conv.snooze_until = None
    conv.last_activity_at = change.now
    change.touch("status", "snooze_until")
    verb = {"resolved": "resolved", "pending": "marked as pending", "open": "reopened"}[status]
    change.system_line(f"{by.name} {verb} the conversation", {"status": status, "by": by.id})


def _report_delivery(change: _Change, command: c.ReportDelivery, message: Message | None) -> None:
    if message is None or message.conversation_id != change.conv.id:
        raise NotFound(f"No message {command.message_id} in this conversation")
    new_status = delivery.advance(message.status, command.status)
    provider_id_changed = (
        command.provider_message_id is not None
        and message.provider_message_id != command.provider_message_id
    )
    if new_status is None and not provider_id_changed:
        return
    updated = dataclasses.replace(message)
    if provider_id_changed:
        updated.provider_message_id = command.provider_message_id
    if new_status is not None:
        updated.status = new_status
        updated.status_reason = command.reason if new_status == DeliveryStatus.FAILED else ""
    change.outcome.updated_messages.append(updated)
    change._event(
        "message.status",
        {"message_id": updated.id, "status": updated.status, "reason": updated.status_reason},
    )


def _when(ts: float, time_zone: str = "UTC") -> str:
    """An instant as the snoozer reads it: their zone, named (the web client re-renders it in
    each viewer's zone from the line's data)."""
    try:
        zone: tzinfo = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.fromtimestamp(ts, zone).strftime("%a %d %b %Y %H:%M %Z")
