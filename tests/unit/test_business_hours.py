"""Business hours decide when auto-replies go out."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from server.domain import commands as c
from server.domain.business_hours import auto_reply_text, is_open, validate_hours
from server.domain.conversation import decide
from server.domain.errors import Invalid
from server.domain.models import ChannelAccount, ChannelKind, Contact, DeliveryStatus, MessageKind

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = {
    "time_zone": "Europe/Berlin",
    "days": {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-12-25"],
}


def at(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


def test_open_on_a_weekday_afternoon_in_the_accounts_time_zone() -> None:
    assert is_open(HOURS, at(2026, 11, 26, 14, 0))  # Thursday
    assert not is_open(HOURS, at(2026, 11, 26, 17, 0))  # closing time is exclusive
    assert not is_open(HOURS, at(2026, 11, 26, 8, 59))


def test_closed_on_weekends_and_holidays() -> None:
    assert not is_open(HOURS, at(2026, 11, 28, 12, 0))  # Saturday
    assert not is_open(HOURS, at(2026, 12, 25, 12, 0))  # a Friday, but a holiday


def test_no_hours_configured_means_always_open() -> None:
    assert is_open(None, at(2026, 11, 28, 3, 0))


def test_bad_hours_are_refused() -> None:
    with pytest.raises(Invalid):
        validate_hours({"time_zone": "Mars/Olympus"})
    with pytest.raises(Invalid):
        validate_hours({"days": {"mon": ["18:00", "09:00"]}})


def test_triggers() -> None:
    outside = {"auto_reply": {"enabled": True, "trigger": "outside_hours", "message": "Later!"}}
    outside["business_hours"] = HOURS
    assert auto_reply_text(outside, first_contact=False, at=at(2026, 11, 28, 12, 0)) == "Later!"
    assert auto_reply_text(outside, first_contact=False, at=at(2026, 11, 26, 12, 0)) is None
    first = {"auto_reply": {"enabled": True, "trigger": "first_contact", "message": "Hi!"}}
    assert auto_reply_text(first, first_contact=True, at=0) == "Hi!"
    assert auto_reply_text(first, first_contact=False, at=0) is None
    disabled = {"auto_reply": {"enabled": False, "trigger": "always", "message": "x"}}
    assert auto_reply_text(disabled, first_contact=True, at=0) is None


def test_an_inbound_message_outside_hours_gets_a_queued_auto_reply() -> None:
    account = ChannelAccount(
        id="acc",
        kind=ChannelKind.API,
        name="Shop",
        settings={
            "business_hours": HOURS,
            "auto_reply": {"enabled": True, "trigger": "outside_hours", "message": "We're closed"},
        },
    )
    contact = Contact(id="ct", name="Carol")
    command = c.AppendInbound(account=account, contact=contact, provider_message_id="p1", text="hi")
    outcome = decide("cnv", None, command, now=at(2026, 11, 28, 12, 0))
    kinds = [m.kind for m in outcome.new_messages]
    assert kinds == [MessageKind.INBOUND, MessageKind.OUTBOUND]
    reply = outcome.new_messages[1]
    assert reply.text == "We're closed" and reply.status == DeliveryStatus.QUEUED
    assert reply.sender.name == "Auto-reply"
    assert [o.message_id for o in outcome.outbox] == [reply.id]
    during = decide("cnv", None, command, now=at(2026, 11, 26, 12, 0))
    assert [m.kind for m in during.new_messages] == [MessageKind.INBOUND]
