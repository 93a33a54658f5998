"""When a snoozed conversation comes back (the guide's "Snoozing").

"1h", "2h" and "4h" are elapsed time. "tomorrow" and "next_monday" are 09:00 on the user's own
wall clock, so they are computed in the user's IANA time zone and only then converted to UTC;
that keeps them right across daylight-saving changes.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.domain.errors import Invalid

PRESETS = ("1h", "2h", "4h", "tomorrow", "next_monday")

WAKE_TIME = time(9, 0)
# A custom snooze further away than this is almost certainly a unit mistake (milliseconds).
MAX_SNOOZE_SECONDS = 366 * 24 * 3600

_ELAPSED = {"1h": timedelta(hours=1), "2h": timedelta(hours=2), "4h": timedelta(hours=4)}


def zone(tz: str) -> ZoneInfo:
    """The IANA time zone `tz`, or Invalid."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise Invalid(f"Unknown time zone {tz!r}") from None


def local_wall_time(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which clocks in `tz` show `day` `at`.

    A wall time skipped by a spring-forward change (02:30 when clocks jump 02:00 -> 03:00) is
    moved forward by the length of the gap (03:30). A wall time that happens twice in a
    fall-back change is the first of the two.
    """
    wall = datetime.combine(day, at, tzinfo=tz)  # fold=0: earlier offset, shifts gaps forward
    return wall.astimezone(UTC)


def snooze_until(preset: str, now: datetime, tz: str) -> datetime:
    """The aware UTC datetime at which a conversation snoozed with `preset` at `now` wakes."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise Invalid("now must be a timezone-aware datetime")
    if preset in _ELAPSED:
        zone(tz)  # still reject a broken time zone, whatever the preset
        return now.astimezone(UTC) + _ELAPSED[preset]
    if preset not in PRESETS:
        raise Invalid(f"Unknown snooze option {preset!r}; expected one of {', '.join(PRESETS)}")
    local_zone = zone(tz)
    today = now.astimezone(local_zone).date()
    if preset == "tomorrow":
        day = today + timedelta(days=1)
    else:  # next_monday: the Monday after today, a full week ahead when today is Monday
        day = today + timedelta(days=7 - today.weekday())
    return local_wall_time(day, WAKE_TIME, local_zone)


def snooze_until_custom(ts: float, now: float) -> float:
    """Validate a snooze time the user picked (epoch seconds): in the future, within a year."""
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise Invalid("The snooze time must be a timestamp in seconds")
    if ts <= now:
        raise Invalid("The snooze time must be in the future")
    if ts - now > MAX_SNOOZE_SECONDS:
        raise Invalid("The snooze time must be within a year (is it in seconds?)")
    return float(ts)
