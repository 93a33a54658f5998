"""The dashboard's figures: business time, first responses, resolutions, volumes."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.domain.metrics import (
    ConversationFact,
    MessageFact,
    MetricsBuilder,
    business_seconds,
    day_keys,
    median,
    percentile,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = {
    "time_zone": "Europe/Berlin",
    "days": {d: ["09:00", "18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-12-25"],
}
H = 3600.0


def at(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).timestamp()


# ---------------------------------------------------------------------------- business time
def test_friday_evening_to_monday_morning_is_one_business_hour() -> None:
    # Fri 2026-11-27 17:30 -> Mon 2026-11-30 09:30: 30 min on Friday, 30 min on Monday.
    assert business_seconds(HOURS, at(2026, 11, 27, 17, 30), at(2026, 11, 30, 9, 30)) == H


def test_time_inside_one_day_and_outside_hours() -> None:
    assert business_seconds(HOURS, at(2026, 11, 26, 10, 0), at(2026, 11, 26, 10, 45)) == 0.75 * H
    assert business_seconds(HOURS, at(2026, 11, 26, 19, 0), at(2026, 11, 27, 8, 0)) == 0
    assert business_seconds(HOURS, at(2026, 11, 28, 9, 0), at(2026, 11, 29, 23, 0)) == 0  # weekend
    assert business_seconds(HOURS, at(2026, 11, 26, 10, 0), at(2026, 11, 26, 9, 0)) == 0  # reversed


def test_a_holiday_counts_nothing() -> None:
    # Thu 24 Dec 17:00 -> Mon 28 Dec 10:00: 1 h on Thursday, Friday the 25th is a holiday.
    assert business_seconds(HOURS, at(2026, 12, 24, 17, 0), at(2026, 12, 28, 10, 0)) == 2 * H


def test_no_hours_configured_counts_every_second() -> None:
    assert business_seconds(None, at(2026, 11, 28, 3, 0), at(2026, 11, 28, 5, 30)) == 2.5 * H
    assert business_seconds({}, 100.0, 160.0) == 60.0


def test_hours_follow_the_local_clock_across_daylight_saving_changes() -> None:
    # Europe/Berlin springs forward on Sun 2026-03-29 (02:00 -> 03:00) and falls back on Sun
    # 2026-10-25 (03:00 -> 02:00). A business day 00:00-06:00 on those Sundays lasts 5 and 7
    # real hours; a 09:00-18:00 weekday right after is still 9 hours.
    hours = {
        "time_zone": "Europe/Berlin",
        "days": {"sun": ["00:00", "06:00"], "mon": ["09:00", "18:00"]},
    }
    assert business_seconds(hours, at(2026, 3, 28, 12, 0), at(2026, 3, 30, 23, 0)) == 14 * H
    assert business_seconds(hours, at(2026, 10, 24, 12, 0), at(2026, 10, 26, 23, 0)) == 16 * H


def test_hours_in_another_time_zone() -> None:
    hours = {"time_zone": "America/New_York", "days": {"mon": ["09:00", "17:00"]}}
    # Mon 2026-11-30 09:00 in New York is 15:00 in Berlin.
    assert business_seconds(hours, at(2026, 11, 30, 14, 0), at(2026, 11, 30, 16, 0)) == H


# ---------------------------------------------------------------------------- statistics
def test_median_and_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 11)]
    assert median(values) == 5.5
    assert percentile(values, 90) == 9.0
    assert percentile([42.0], 90) == 42.0
    assert median([]) is None and percentile([], 90) is None


def test_day_keys_cover_the_range_in_the_given_zone() -> None:
    since, until = at(2026, 11, 24, 0, 0), at(2026, 11, 27, 0, 0)
    assert day_keys(since, until, BERLIN) == ["2026-11-24", "2026-11-25", "2026-11-26"]


# ---------------------------------------------------------------------------- the builder
class Script:
    """Writes a conversation's messages with increasing seq, like the domain would."""

    def __init__(self, conversation_id: str, account_id: str = "acc1") -> None:
        self.conversation_id, self.account_id, self.seq = conversation_id, account_id, 1
        self.facts: list[MessageFact] = []

    def _add(
        self, when: float, kind: str, sender_type: str, sender_id: str = "", text: str = ""
    ) -> Script:
        self.seq += 1
        self.facts.append(
            MessageFact(
                self.conversation_id,
                self.account_id,
                self.seq,
                when,
                kind,
                sender_type,
                sender_id,
                text,
            )
        )
        return self

    def inbound(self, when: float) -> Script:
        return self._add(when, "inbound", "contact", "ct1")

    def reply(self, when: float, user_id: str = "usr_alice") -> Script:
        return self._add(when, "outbound", "user", user_id)

    def auto_reply(self, when: float) -> Script:
        return self._add(when, "outbound", "system", "auto-reply")

    def note(self, when: float, user_id: str = "usr_alice") -> Script:
        return self._add(when, "note", "user", user_id)

    def resolve(self, when: float, name: str = "Alice") -> Script:
        return self._add(when, "system", "system", "", f"{name} resolved the conversation")

    def reopen(self, when: float, name: str = "Alice") -> Script:
        return self._add(when, "system", "system", "", f"{name} reopened the conversation")

    def status_line(self, when: float, status: str, user_id: str, text: str) -> Script:
        """A status line as the domain writes it now: status and user in `data`."""
        self._add(when, "system", "system", "", text)
        self.facts[-1] = dataclasses.replace(self.facts[-1], status=status, actor_id=user_id)
        return self

    def assign(self, when: float) -> Script:
        return self._add(when, "system", "system", "", "Alice self-assigned this conversation")


USERS = {"usr_alice": "Alice", "usr_bob": "Bob"}
WEEK = (at(2026, 11, 23, 0, 0), at(2026, 11, 30, 0, 0))  # Mon 23 Nov - Sun 29 Nov


def build(
    *scripts: Script, since: float = WEEK[0], until: float = WEEK[1], **kw: Any
) -> dict[str, Any]:
    kw.setdefault("account_names", {"acc1": "Shop"})
    kw.setdefault("users", USERS)
    builder = MetricsBuilder(since=since, until=until, **kw)
    facts = sorted((f for s in scripts for f in s.facts), key=MessageFact.key)
    builder.add_messages(facts)
    return builder.result()


def test_three_inbound_two_replies_one_resolved() -> None:
    a = Script("c1").inbound(at(2026, 11, 24, 10, 0)).reply(at(2026, 11, 24, 10, 5))
    a.inbound(at(2026, 11, 24, 11, 0)).reply(at(2026, 11, 24, 11, 20), "usr_bob")
    a.resolve(at(2026, 11, 24, 11, 21))
    b = Script("c2").inbound(at(2026, 11, 25, 9, 0)).note(at(2026, 11, 25, 9, 1))
    report = build(a, b)
    assert report["volumes"] == {"inbound": 3, "replies": 2, "notes": 1, "automated": 0}
    assert report["conversations"]["resolved"] == 1
    assert report["conversations"]["active"] == 2
    assert report["conversations"]["resolution_rate"] == 0.5
    first = report["first_response"]
    assert (first["answered"], first["unanswered"]) == (2, 1)  # c2 is still waiting
    assert first["median"] == 12.5 * 60  # 5 and 20 minutes
    assert first["average"] == 12.5 * 60
    assert first["p90"] == 20 * 60
    # From the first message at 10:00 to the resolve at 11:21.
    assert report["resolution_time"] == {"count": 1, "median": 81 * 60}
    agents = {r["name"]: r for r in report["agents"]}
    assert agents["Alice"]["replies"] == 1 and agents["Alice"]["resolved"] == 1
    assert agents["Alice"]["notes"] == 1
    assert agents["Alice"]["first_response_median"] == 5 * 60
    assert agents["Bob"]["replies"] == 1 and agents["Bob"]["resolved"] == 0
    assert agents["Bob"]["first_response_median"] == 20 * 60


def test_first_response_in_business_hours_from_friday_evening_to_monday_morning() -> None:
    s = Script("c1").inbound(at(2026, 11, 27, 17, 30)).reply(at(2026, 11, 30, 9, 30))
    until = at(2026, 12, 1, 0, 0)
    wall = build(s, until=until, hours={"acc1": HOURS})
    business = build(s, until=until, hours={"acc1": HOURS}, business_hours=True)
    assert wall["first_response"]["median"] == 64 * H
    assert business["first_response"]["median"] == H
    assert business["range"]["business_hours"] is True


def test_only_the_first_reply_of_a_wait_counts_and_follow_up_messages_do_not_restart_it() -> None:
    s = Script("c1").inbound(at(2026, 11, 24, 10, 0)).inbound(at(2026, 11, 24, 10, 30))
    s.reply(at(2026, 11, 24, 11, 0)).reply(at(2026, 11, 24, 11, 5))
    report = build(s)
    assert report["first_response"]["answered"] == 1
    assert report["first_response"]["median"] == H  # from the first unanswered message
    assert report["volumes"]["replies"] == 2


def test_auto_replies_do_not_answer_a_customer() -> None:
    s = Script("c1").inbound(at(2026, 11, 24, 10, 0)).auto_reply(at(2026, 11, 24, 10, 0))
    s.reply(at(2026, 11, 24, 10, 10))
    report = build(s)
    assert report["volumes"]["automated"] == 1 and report["volumes"]["replies"] == 1
    assert report["first_response"]["median"] == 600


def test_resolving_without_a_reply_closes_the_wait_and_a_new_message_reopens() -> None:
    s = Script("c1").inbound(at(2026, 11, 24, 10, 0)).reply(at(2026, 11, 24, 10, 1))
    s.inbound(at(2026, 11, 24, 10, 2)).resolve(at(2026, 11, 24, 10, 3))  # "thanks!" -> resolved
    s.inbound(at(2026, 11, 25, 9, 0)).reply(at(2026, 11, 25, 9, 30)).resolve(
        at(2026, 11, 25, 10, 0)
    )
    report = build(s)
    assert report["first_response"] == {
        "answered": 2,
        "unanswered": 0,
        "median": 15.5 * 60,
        "p90": 30 * 60,
        "average": 15.5 * 60,
    }
    # Two resolves of one conversation: one resolved conversation, two resolution times
    # (3 minutes; 1 hour from the reopening message).
    assert report["conversations"]["resolved"] == 1
    assert report["resolution_time"] == {"count": 2, "median": (3 * 60 + H) / 2}
    assert report["conversations"]["resolution_rate"] == 1.0


def test_an_agent_reopen_starts_a_new_episode() -> None:
    s = Script("c1").inbound(at(2026, 11, 24, 10, 0)).resolve(at(2026, 11, 24, 10, 30))
    s.reopen(at(2026, 11, 24, 12, 0)).resolve(at(2026, 11, 24, 14, 0))
    report = build(s)
    assert sorted([report["resolution_time"]["median"]]) == [(0.5 * H + 2 * H) / 2]
    assert report["first_response"]["unanswered"] == 0


def test_a_reopened_conversation_left_open_lowers_the_resolution_rate() -> None:
    s = Script("c1").inbound(at(2026, 11, 24, 10, 0)).resolve(at(2026, 11, 24, 10, 30))
    s.inbound(at(2026, 11, 26, 10, 0))
    report = build(s)
    assert report["conversations"]["resolved"] == 1
    assert report["conversations"]["resolution_rate"] == 0.0
    assert report["first_response"]["unanswered"] == 1


def test_a_wait_that_began_before_the_range_is_measured_from_its_start() -> None:
    s = Script("c1").inbound(at(2026, 11, 22, 17, 0)).reply(at(2026, 11, 23, 9, 0))
    report = build(s)
    assert report["volumes"]["inbound"] == 0  # before the range
    assert report["volumes"]["replies"] == 1
    assert report["first_response"]["median"] == 16 * H


def test_messages_after_the_range_are_ignored() -> None:
    s = Script("c1").inbound(at(2026, 11, 29, 23, 0)).reply(at(2026, 11, 30, 1, 0))
    report = build(s)
    assert report["volumes"] == {"inbound": 1, "replies": 0, "notes": 0, "automated": 0}
    assert report["first_response"]["unanswered"] == 1


def test_days_are_buckets_in_the_users_time_zone() -> None:
    # 23:30 UTC on Tuesday is already Wednesday in Berlin.
    utc_late = datetime(2026, 11, 24, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    s = Script("c1").inbound(utc_late)
    in_utc = {d["date"]: d for d in build(s, time_zone="UTC")["days"]}
    in_berlin = {d["date"]: d for d in build(s, time_zone="Europe/Berlin")["days"]}
    assert in_utc["2026-11-24"]["inbound"] == 1
    assert in_berlin["2026-11-25"]["inbound"] == 1 and in_berlin["2026-11-24"]["inbound"] == 0
    assert len(in_berlin) == 7


def test_new_conversations_and_per_account_breakdown() -> None:
    a = Script("c1", "acc1").inbound(at(2026, 11, 24, 10, 0)).reply(at(2026, 11, 24, 10, 10))
    b = Script("c2", "acc2").inbound(at(2026, 11, 24, 10, 0))
    builder = MetricsBuilder(
        since=WEEK[0], until=WEEK[1], account_names={"acc1": "Shop", "acc2": "Other"}, users=USERS
    )
    builder.add_conversations(
        [
            ConversationFact("c1", "acc1", at(2026, 11, 24, 10, 0)),
            ConversationFact("c2", "acc2", at(2026, 11, 24, 10, 0)),
            ConversationFact("c0", "acc1", at(2026, 11, 1, 10, 0)),  # before the range
        ]
    )
    builder.add_messages(sorted(a.facts + b.facts, key=MessageFact.key))
    report = builder.result()
    assert report["conversations"]["new"] == 2
    rows = {r["name"]: r for r in report["accounts"]}
    assert rows["Shop"]["new"] == 1 and rows["Shop"]["first_response_median"] == 600
    assert rows["Other"]["unanswered"] == 1 and rows["Other"]["replies"] == 0


def test_resolves_are_credited_by_name_only_when_the_name_is_unambiguous() -> None:
    s = Script("c1").inbound(at(2026, 11, 24, 10, 0)).resolve(at(2026, 11, 24, 10, 30), "Sam")
    report = build(s, users={"usr_1": "Sam", "usr_2": "Sam"})
    assert report["conversations"]["resolved"] == 1
    assert report["agents"] == []


def test_an_empty_range_has_no_rates() -> None:
    report = build()
    assert report["conversations"]["resolution_rate"] is None
    assert report["first_response"]["median"] is None
    assert report["resolution_time"] == {"count": 0, "median": None}


@pytest.mark.parametrize("system_text", ["Alice self-assigned this conversation", "Snooze ended"])
def test_other_system_lines_change_nothing(system_text: str) -> None:
    s = Script("c1").inbound(at(2026, 11, 24, 10, 0))
    s._add(at(2026, 11, 24, 10, 1), "system", "system", "", system_text)
    report = build(s)
    assert report["conversations"]["resolved"] == 0
    assert report["first_response"]["unanswered"] == 1


def test_assistant_notes_are_not_agent_activity() -> None:
    s = Script("c1").inbound(at(2026, 11, 20, 10, 0)).resolve(at(2026, 11, 20, 11, 0))
    s._add(at(2026, 11, 24, 10, 0), "note", "assistant", "assistant", "")
    report = build(s)
    assert report["volumes"]["notes"] == 0
    assert report["conversations"]["active"] == 0
    assert report["agents"] == []


def test_resolves_are_credited_by_user_id_whatever_the_line_says() -> None:
    # Bob was renamed after resolving, and the line's wording is not what the code reads.
    a = Script("c1").inbound(at(2026, 11, 24, 10, 0)).reply(at(2026, 11, 24, 10, 5), "usr_bob")
    a.status_line(at(2026, 11, 24, 10, 6), "resolved", "usr_bob", "Robert a résolu")
    b = Script("c2").inbound(at(2026, 11, 24, 12, 0))
    b.status_line(at(2026, 11, 24, 12, 1), "resolved", "usr_alice", "Alice resolved it")
    b.status_line(at(2026, 11, 24, 12, 2), "open", "usr_alice", "Alice a rouvert")
    report = build(a, b)
    assert report["conversations"]["resolved"] == 2
    assert report["conversations"]["resolution_rate"] == 0.5  # c2 was reopened
    agents = {r["name"]: r for r in report["agents"]}
    assert agents["Bob"]["resolved"] == 1 and agents["Alice"]["resolved"] == 1
