"""Business hours and auto-replies (the guide's "Business Hours" and "Auto-Reply").

An account's settings may hold:

    "business_hours": {"time_zone": "Europe/Berlin",
                       "days": {"mon": ["09:00", "17:00"], ..., "sun": null},
                       "holidays": ["2026-12-25"]}
    "auto_reply": {"enabled": true, "trigger": "outside_hours" | "first_contact" | "always",
                   "message": "Thanks! We answer between 9 and 5."}

A day missing from `days`, or null, is closed; a holiday is closed all day.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.domain.errors import Invalid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TRIGGERS = ("outside_hours", "first_contact", "always")


def _clock(value: Any) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise Invalid(f"{value!r} is not a time like 09:00") from exc


def validate_hours(hours: Any) -> dict[str, Any]:
    if not isinstance(hours, dict):
        raise Invalid("business_hours must be an object")
    try:
        ZoneInfo(str(hours.get("time_zone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid("business_hours.time_zone must be an IANA time zone") from exc
    days = hours.get("days") or {}
    if not isinstance(days, dict) or not set(days) <= set(DAYS):
        raise Invalid(f"business_hours.days keys must be among {', '.join(DAYS)}")
    for span in days.values():
        if span is None:
            continue
        if not isinstance(span, list) or len(span) != 2:
            raise Invalid('each business day is [start, end] like ["09:00", "17:00"], or null')
        if _clock(span[0]) >= _clock(span[1]):
            raise Invalid("a business day must end after it starts")
    holidays = hours.get("holidays") or []
    if not isinstance(holidays, list) or not all(isinstance(d, str) for d in holidays):
        raise Invalid("business_hours.holidays must be a list of dates like 2026-12-25")
    return dict(hours)


def validate_auto_reply(auto_reply: Any) -> dict[str, Any]:
    if not isinstance(auto_reply, dict):
        raise Invalid("auto_reply must be an object")
    if auto_reply.get("trigger", "outside_hours") not in TRIGGERS:
        raise Invalid(f"auto_reply.trigger must be one of {', '.join(TRIGGERS)}")
    message = auto_reply.get("message", "")
    if not isinstance(message, str) or (auto_reply.get("enabled") and not message.strip()):
        raise Invalid("auto_reply.message must be the text to send")
    return dict(auto_reply)


def is_open(hours: dict[str, Any] | None, at: float) -> bool:
    """Are we within business hours at epoch time `at`? No hours configured: always open."""
    if not hours:
        return True
    local = datetime.fromtimestamp(at, ZoneInfo(str(hours.get("time_zone", "UTC"))))
    if local.date().isoformat() in (hours.get("holidays") or []):
        return False
    span = (hours.get("days") or {}).get(DAYS[local.weekday()])
    if not span:
        return False
    return _clock(span[0]) <= local.time().replace(tzinfo=None) < _clock(span[1])


def auto_reply_text(settings: dict[str, Any], *, first_contact: bool, at: float) -> str | None:
    """The auto-reply to send for an inbound message, or None."""
    auto_reply = settings.get("auto_reply") or {}
    if not auto_reply.get("enabled"):
        return None
    trigger = auto_reply.get("trigger", "outside_hours")
    if (
        trigger == "always"
        or (trigger == "first_contact" and first_contact)
        or (trigger == "outside_hours" and not is_open(settings.get("business_hours"), at))
    ):
        return str(auto_reply.get("message") or "") or None
    return None
