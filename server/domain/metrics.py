"""Performance metrics (the guide's "Performance Metrics"): pure computations, no I/O.

The dashboard's figures are derived from the messages themselves, because they are the durable
record of what happened (the event log is trimmed): inbound customer messages, agent replies,
private notes, and the system lines the conversation writes when someone resolves or reopens it
(their `data` holds the new status and the user's id; lines stored before that are read by their
text, "Alice resolved the conversation").

Definitions (all per conversation, in message order):
- A *wait* starts with an inbound message while no wait is running, and ends with the next
  agent reply (answered: its first-response time is counted at the reply) or with a resolve
  (closed without a reply: not counted either way, e.g. a customer's "thanks!"). A wait still
  running at the end of the range is *unanswered*.
- An *episode* runs from the conversation's first message (or from an inbound message or a
  reopen after a resolve) to the resolve: its length is the resolution time.
- *Active* conversations had a message, an agent's note, a resolve or a reopen in the range;
  the resolution rate is the share of them that were resolved at the end of the range.
- Notes are agents' private notes: the assistant's notes are not counted anywhere.
- With business hours, durations count only the seconds inside the account's business hours
  (`business_seconds`); an account without business hours configured is always open.

`MetricsBuilder` consumes the store's rows page by page (memory: one small state per
conversation plus one float per answered wait), then `result()` gives the JSON-ready report.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.domain.business_hours import DAYS, _clock

DAY = 86_400.0
# Reading starts this long before `since`, so a wait or an episode that began shortly before
# the range is measured from its real start.
LOOKBACK = 7 * DAY
MAX_RANGE = 366 * DAY

RESOLVED_SUFFIX = " resolved the conversation"
REOPENED_SUFFIX = " reopened the conversation"


@dataclass(slots=True, frozen=True)
class MessageFact:
    """What the metrics need of one stored message (text only for system lines)."""

    conversation_id: str
    account_id: str
    seq: int
    created_at: float
    kind: str  # "inbound" | "outbound" | "note" | "system"
    sender_type: str = ""  # "contact" | "user" | "system"
    sender_id: str = ""
    text: str = ""
    status: str = ""  # a status line's new status ("resolved" | "pending" | "open")
    actor_id: str = ""  # the user who changed the status

    def key(self) -> tuple[str, float, str, int]:
        """The store's reading order (and paging key): account, time, conversation, seq."""
        return (self.account_id, self.created_at, self.conversation_id, self.seq)


@dataclass(slots=True, frozen=True)
class ConversationFact:
    """A conversation's creation, for the "new conversations" count."""

    id: str
    account_id: str
    created_at: float


def zone(name: str | None) -> tzinfo:
    """The IANA zone, or UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def known_zone(name: str | None) -> bool:
    try:
        ZoneInfo(name or "")
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# ------------------------------------------------------------------------ business time
class BusinessCalendar:
    """Business hours as instants: `seconds(start, end)` counts the open seconds between two
    epoch times. DST-safe: each day's opening and closing are local wall-clock times turned
    into instants in the account's zone, so a 09:00-18:00 day is 9 hours on a DST switch day
    too (the switch happens at night), and a day is found by its local date, never by adding
    86,400 seconds."""

    def __init__(self, hours: dict[str, Any] | None) -> None:
        self.always_open = not hours
        hours = hours or {}
        self.tz = zone(str(hours.get("time_zone") or "UTC"))
        self.days: dict[str, Any] = dict(hours.get("days") or {})
        self.holidays = {str(d) for d in hours.get("holidays") or []}
        self._cache: dict[date, tuple[float, float] | None] = {}

    def open_span(self, day: date) -> tuple[float, float] | None:
        """The instants the business opens and closes on a local date, or None when closed."""
        if day in self._cache:
            return self._cache[day]
        span = None
        hours = self.days.get(DAYS[day.weekday()])
        if hours and day.isoformat() not in self.holidays:
            start = datetime.combine(day, _clock(hours[0]), tzinfo=self.tz).timestamp()
            end = datetime.combine(day, _clock(hours[1]), tzinfo=self.tz).timestamp()
            span = (start, end) if end > start else None
        self._cache[day] = span
        return span

    def seconds(self, start: float, end: float) -> float:
        if end <= start:
            return 0.0
        if self.always_open:
            return end - start
        total = 0.0
        day = datetime.fromtimestamp(start, self.tz).date()
        last = datetime.fromtimestamp(end, self.tz).date()
        while day <= last:
            span = self.open_span(day)
            if span is not None:
                total += max(0.0, min(end, span[1]) - max(start, span[0]))
            day += timedelta(days=1)
        return total


def business_seconds(hours: dict[str, Any] | None, start: float, end: float) -> float:
    """Seconds between two epoch instants that fall inside business hours (see
    `server.domain.business_hours` for the shape of `hours`). No hours configured: always
    open, so this is simply `end - start`."""
    return BusinessCalendar(hours).seconds(start, end)


# ------------------------------------------------------------------------ statistics
def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `pct`% of values <= it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def average(values: list[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def status_action(fact: MessageFact) -> str | None:
    """ "resolved" / "reopened" for the system lines a status change writes, else None."""
    if fact.kind != "system" or fact.sender_type not in ("system", ""):
        return None
    if fact.status:
        return {"resolved": "resolved", "open": "reopened"}.get(fact.status)
    # Lines stored before status lines carried `data`: read the text.
    if fact.text.endswith(RESOLVED_SUFFIX):
        return "resolved"
    if fact.text.endswith(REOPENED_SUFFIX):
        return "reopened"
    return None


def actor_name(fact: MessageFact) -> str:
    """Who resolved or reopened, as the system line names them."""
    for suffix in (RESOLVED_SUFFIX, REOPENED_SUFFIX):
        if fact.text.endswith(suffix):
            return fact.text[: -len(suffix)]
    return ""


def day_keys(since: float, until: float, tz: tzinfo) -> list[str]:
    """Every local date touched by [since, until), oldest first."""
    if until <= since:
        return []
    first = datetime.fromtimestamp(since, tz).date()
    last = datetime.fromtimestamp(until - 0.001, tz).date()
    out: list[str] = []
    while first <= last:
        out.append(first.isoformat())
        first += timedelta(days=1)
    return out


# ------------------------------------------------------------------------ the builder
@dataclass(slots=True)
class _Conv:
    account_id: str
    waiting_since: float | None = None
    episode_start: float | None = None
    resolved: bool | None = None  # None: not known from what was read
    active: bool = False


@dataclass(slots=True)
class _Tally:
    inbound: int = 0
    replies: int = 0
    notes: int = 0
    automated: int = 0
    new: int = 0
    resolved: set[str] = field(default_factory=set)
    first_responses: list[float] = field(default_factory=list)
    resolution_times: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Agent:
    replies: int = 0
    notes: int = 0
    resolved: set[str] = field(default_factory=set)
    first_responses: list[float] = field(default_factory=list)


class MetricsBuilder:
    """Feed `add_messages` the rows read from `since - LOOKBACK` to `until` in the store's order
    (per conversation, seq order is what matters), `add_conversations` the conversations created
    in [since, until), then read `result()`.

    - `hours`: account id -> its business hours (settings["business_hours"]) or None.
    - `business_hours`: measure durations in business seconds instead of wall seconds.
    - `users`: user id -> name, to name agents and to credit resolves (the system line names
      the agent; a name shared by two users is credited to nobody).
    - `time_zone`: the zone of the per-day buckets.
    """

    def __init__(
        self,
        *,
        since: float,
        until: float,
        account_names: dict[str, str],
        hours: dict[str, dict[str, Any] | None] | None = None,
        business_hours: bool = False,
        users: dict[str, str] | None = None,
        time_zone: str = "UTC",
    ) -> None:
        self.since, self.until = since, until
        self.account_names = dict(account_names)
        self.business_hours = business_hours
        self.calendars = {a: BusinessCalendar((hours or {}).get(a)) for a in self.account_names}
        self.users = dict(users or {})
        by_name: dict[str, list[str]] = {}
        for user_id, name in self.users.items():
            by_name.setdefault(name, []).append(user_id)
        self.user_by_name = {n: ids[0] for n, ids in by_name.items() if len(ids) == 1}
        self.time_zone = time_zone
        self.tz = zone(time_zone)
        self.days = {
            d: {"inbound": 0, "replies": 0, "notes": 0} for d in day_keys(since, until, self.tz)
        }
        self.convs: dict[str, _Conv] = {}
        self.accounts = {a: _Tally() for a in self.account_names}
        self.agents: dict[str, _Agent] = {}
        self.truncated = False

    # -------------------------------------------------------------- input
    def duration(self, account_id: str, start: float, end: float) -> float:
        if not self.business_hours:
            return max(0.0, end - start)
        calendar = self.calendars.get(account_id) or BusinessCalendar(None)
        return calendar.seconds(start, end)

    def add_conversations(self, facts: list[ConversationFact]) -> None:
        for fact in facts:
            if self.since <= fact.created_at < self.until and fact.account_id in self.accounts:
                self.accounts[fact.account_id].new += 1

    def add_messages(self, facts: list[MessageFact]) -> None:
        for fact in facts:
            if fact.account_id in self.accounts and fact.created_at < self.until:
                self._add(fact)

    def _agent(self, user_id: str) -> _Agent:
        return self.agents.setdefault(user_id, _Agent())

    def _day(self, at: float) -> dict[str, int] | None:
        return self.days.get(datetime.fromtimestamp(at, self.tz).date().isoformat())

    def _add(self, m: MessageFact) -> None:
        conv = self.convs.get(m.conversation_id)
        if conv is None:
            conv = self.convs[m.conversation_id] = _Conv(m.account_id)
        tally = self.accounts[m.account_id]
        in_range = m.created_at >= self.since
        day = self._day(m.created_at) if in_range else None
        action = status_action(m)
        if m.kind == "note" and m.sender_type != "user":
            return  # the assistant's notes are the team's aid, not activity
        if in_range and (m.kind in ("inbound", "outbound", "note") or action):
            conv.active = True
        if m.kind == "inbound":
            if conv.resolved:
                conv.episode_start = None
            conv.resolved = False
            if conv.episode_start is None:
                conv.episode_start = m.created_at
            if conv.waiting_since is None:
                conv.waiting_since = m.created_at
            if in_range:
                tally.inbound += 1
                if day is not None:
                    day["inbound"] += 1
        elif m.kind == "outbound":
            if conv.episode_start is None and not conv.resolved:
                conv.episode_start = m.created_at
            if m.sender_type != "user":
                tally.automated += in_range
                return
            if conv.waiting_since is not None:
                if in_range:
                    took = self.duration(m.account_id, conv.waiting_since, m.created_at)
                    tally.first_responses.append(took)
                    self._agent(m.sender_id).first_responses.append(took)
                conv.waiting_since = None
            if in_range:
                tally.replies += 1
                self._agent(m.sender_id).replies += 1
                if day is not None:
                    day["replies"] += 1
        elif m.kind == "note":
            if in_range:
                tally.notes += 1
                self._agent(m.sender_id).notes += 1
                if day is not None:
                    day["notes"] += 1
        elif action == "resolved":
            if in_range:
                tally.resolved.add(m.conversation_id)
                if conv.episode_start is not None:
                    took = self.duration(m.account_id, conv.episode_start, m.created_at)
                    tally.resolution_times.append(took)
                user_id = m.actor_id or self.user_by_name.get(actor_name(m))
                if user_id is not None:
                    self._agent(user_id).resolved.add(m.conversation_id)
            conv.waiting_since = None
            conv.episode_start = None
            conv.resolved = True
        elif action == "reopened":
            if conv.resolved or conv.episode_start is None:
                conv.episode_start = m.created_at
            conv.resolved = False

    # -------------------------------------------------------------- output
    def result(self) -> dict[str, Any]:
        unanswered: dict[str, int] = dict.fromkeys(self.accounts, 0)
        active: dict[str, int] = dict.fromkeys(self.accounts, 0)
        resolved_at_end: dict[str, int] = dict.fromkeys(self.accounts, 0)
        for conv in self.convs.values():
            if conv.waiting_since is not None:
                unanswered[conv.account_id] += 1
            if conv.active:
                active[conv.account_id] += 1
                resolved_at_end[conv.account_id] += bool(conv.resolved)
        tallies = list(self.accounts.values())
        firsts = [x for t in tallies for x in t.first_responses]
        resolutions = [x for t in tallies for x in t.resolution_times]
        total_active = sum(active.values())
        total_resolved_end = sum(resolved_at_end.values())
        return {
            "range": {
                "since": self.since,
                "until": self.until,
                "time_zone": self.time_zone,
                "business_hours": self.business_hours,
            },
            "volumes": {
                "inbound": sum(t.inbound for t in tallies),
                "replies": sum(t.replies for t in tallies),
                "notes": sum(t.notes for t in tallies),
                "automated": sum(t.automated for t in tallies),
            },
            "days": [{"date": d, **counts} for d, counts in self.days.items()],
            "conversations": {
                "new": sum(t.new for t in tallies),
                "resolved": sum(len(t.resolved) for t in tallies),
                "active": total_active,
                "resolved_at_end": total_resolved_end,
                "resolution_rate": _rate(total_resolved_end, total_active),
            },
            "first_response": {
                "answered": len(firsts),
                "unanswered": sum(unanswered.values()),
                "median": median(firsts),
                "p90": percentile(firsts, 90),
                "average": average(firsts),
            },
            "resolution_time": {"count": len(resolutions), "median": median(resolutions)},
            "agents": self._agents(),
            "accounts": [
                {
                    "account_id": account_id,
                    "name": self.account_names[account_id],
                    "inbound": t.inbound,
                    "replies": t.replies,
                    "notes": t.notes,
                    "new": t.new,
                    "resolved": len(t.resolved),
                    "resolution_rate": _rate(resolved_at_end[account_id], active[account_id]),
                    "first_response_median": median(t.first_responses),
                    "unanswered": unanswered[account_id],
                }
                for account_id, t in self.accounts.items()
            ],
            "truncated": self.truncated,
        }

    def _agents(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [
            {
                "user_id": user_id,
                "name": self.users.get(user_id, user_id),
                "replies": agent.replies,
                "notes": agent.notes,
                "resolved": len(agent.resolved),
                "answered": len(agent.first_responses),
                "first_response_median": median(agent.first_responses),
            }
            for user_id, agent in self.agents.items()
        ]
        rows.sort(key=lambda r: (-int(r["replies"]), str(r["name"]).lower()))
        return rows


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None
