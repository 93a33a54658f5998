"""Snooze presets wake conversations at the time the agent expects, on their own clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.domain.errors import Invalid
from server.domain.snooze import (
    PRESETS,
    local_wall_time,
    snooze_until,
    snooze_until_custom,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_presets_match_the_snooze_menu() -> None:
    assert PRESETS == ("1h", "2h", "4h", "tomorrow", "next_monday")


@pytest.mark.parametrize(("preset", "hours"), [("1h", 1), ("2h", 2), ("4h", 4)])
def test_hour_presets_are_elapsed_time(preset: str, hours: int) -> None:
    now = utc(2024, 6, 5, 13, 15)
    assert snooze_until(preset, now, "Europe/Berlin") == now + timedelta(hours=hours)


def test_result_is_an_aware_utc_datetime_even_for_a_local_now() -> None:
    now = datetime(2024, 6, 5, 15, 15, tzinfo=ZoneInfo("Europe/Berlin"))
    for preset in PRESETS:
        result = snooze_until(preset, now, "Europe/Berlin")
        assert result.tzinfo is UTC
        assert result > now


def test_one_hour_across_spring_forward_is_one_real_hour() -> None:
    # 01:30 CET on the night the clocks jump 02:00 -> 03:00: wakes at 03:30 CEST.
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2024, 3, 31, 1, 30, tzinfo=berlin)
    result = snooze_until("1h", now, "Europe/Berlin")
    assert result == utc(2024, 3, 31, 1, 30)
    assert result.astimezone(berlin).hour == 3


def test_one_hour_across_fall_back_is_one_real_hour() -> None:
    # 02:30 CEST, just before clocks go back: an hour later the wall clock shows 02:30 CET.
    berlin = ZoneInfo("Europe/Berlin")
    now = utc(2024, 10, 27, 0, 30)
    result = snooze_until("1h", now, "Europe/Berlin")
    assert result == utc(2024, 10, 27, 1, 30)
    assert result.astimezone(berlin).strftime("%H:%M %Z") == "02:30 CET"


def test_tomorrow_on_the_berlin_spring_forward_weekend_is_9_cest() -> None:
    now = datetime(2024, 3, 30, 22, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Saturday, CET
    assert snooze_until("tomorrow", now, "Europe/Berlin") == utc(2024, 3, 31, 7, 0)


def test_tomorrow_on_the_berlin_fall_back_weekend_is_9_cet() -> None:
    now = datetime(2024, 10, 26, 20, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Saturday, CEST
    assert snooze_until("tomorrow", now, "Europe/Berlin") == utc(2024, 10, 27, 8, 0)


def test_next_monday_after_the_berlin_clock_change_is_9_local() -> None:
    now = datetime(2024, 3, 29, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Friday, CET
    result = snooze_until("next_monday", now, "Europe/Berlin")
    assert result == utc(2024, 4, 1, 7, 0)  # 09:00 CEST
    assert result.astimezone(ZoneInfo("Europe/Berlin")).hour == 9


def test_late_evening_tomorrow_uses_the_users_date_not_utcs() -> None:
    # 23:30 in New York is already the 16th in UTC; "tomorrow" still means the 16th, 09:00.
    now = utc(2024, 1, 16, 4, 30)
    assert snooze_until("tomorrow", now, "America/New_York") == utc(2024, 1, 16, 14, 0)


def test_sunday_snoozed_to_next_monday_wakes_the_next_day_in_new_york() -> None:
    now = datetime(2024, 11, 3, 10, 0, tzinfo=ZoneInfo("America/New_York"))  # Sunday, EST
    assert snooze_until("next_monday", now, "America/New_York") == utc(2024, 11, 4, 14, 0)


def test_sunday_of_the_us_spring_forward_to_monday_is_9_edt() -> None:
    now = utc(2024, 3, 10, 5, 0)  # Sunday 00:00 EST, clocks jump at 02:00
    assert snooze_until("next_monday", now, "America/New_York") == utc(2024, 3, 11, 13, 0)


def test_monday_snoozed_to_next_monday_waits_a_full_week_in_auckland() -> None:
    now = utc(2024, 1, 15, 10, 30)  # Monday 23:30 NZDT (+13)
    assert snooze_until("next_monday", now, "Pacific/Auckland") == utc(2024, 1, 21, 20, 0)


def test_monday_morning_before_9_still_means_the_following_monday() -> None:
    now = utc(2024, 1, 15, 7, 0)  # Monday 07:00 UTC
    assert snooze_until("next_monday", now, "UTC") == utc(2024, 1, 22, 9, 0)


def test_late_evening_tomorrow_in_auckland_when_utc_is_still_on_the_same_day() -> None:
    now = utc(2024, 1, 15, 10, 30)  # 23:30 on the 15th in Auckland
    assert snooze_until("tomorrow", now, "Pacific/Auckland") == utc(2024, 1, 15, 20, 0)


def test_tomorrow_in_auckland_after_its_daylight_saving_ends() -> None:
    now = utc(2024, 4, 6, 8, 0)  # Saturday 21:00 NZDT; clocks go back overnight
    assert snooze_until("tomorrow", now, "Pacific/Auckland") == utc(2024, 4, 6, 21, 0)  # +12


def test_tomorrow_in_utc() -> None:
    assert snooze_until("tomorrow", utc(2024, 2, 28, 23, 59), "UTC") == utc(2024, 2, 29, 9, 0)


def test_a_wall_time_skipped_by_spring_forward_moves_forward_by_the_gap() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    result = local_wall_time(date(2024, 3, 31), time(2, 30), berlin)
    assert result == utc(2024, 3, 31, 1, 30)
    assert result.astimezone(berlin).strftime("%H:%M") == "03:30"


def test_a_wall_time_that_happens_twice_is_the_first_one() -> None:
    result = local_wall_time(date(2024, 10, 27), time(2, 30), ZoneInfo("Europe/Berlin"))
    assert result == utc(2024, 10, 27, 0, 30)  # 02:30 CEST, not 02:30 CET


@pytest.mark.parametrize("preset", ["3h", "", "Tomorrow", "next_friday"])
def test_unknown_preset_is_refused(preset: str) -> None:
    with pytest.raises(Invalid, match="Unknown snooze option"):
        snooze_until(preset, utc(2024, 1, 1), "UTC")


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "Europe", "../etc/passwd"])
@pytest.mark.parametrize("preset", ["1h", "tomorrow"])
def test_unknown_time_zone_is_refused(tz: str, preset: str) -> None:
    with pytest.raises(Invalid, match="Unknown time zone"):
        snooze_until(preset, utc(2024, 1, 1), tz)


def test_naive_now_is_refused() -> None:
    with pytest.raises(Invalid, match="timezone-aware"):
        snooze_until("1h", datetime(2024, 1, 1, 12, 0), "UTC")


def test_custom_time_in_the_future_is_accepted() -> None:
    assert snooze_until_custom(1_700_003_600, 1_700_000_000.5) == 1_700_003_600.0


@pytest.mark.parametrize("ts", [1_699_999_999.0, 1_700_000_000.0])
def test_custom_time_in_the_past_or_now_is_refused(ts: float) -> None:
    with pytest.raises(Invalid, match="in the future"):
        snooze_until_custom(ts, 1_700_000_000.0)


def test_custom_time_in_milliseconds_is_refused() -> None:
    with pytest.raises(Invalid, match="within a year"):
        snooze_until_custom(1_700_003_600_000, 1_700_000_000.0)


@pytest.mark.parametrize("ts", [float("nan"), float("inf")])
def test_custom_time_that_is_not_a_number_is_refused(ts: float) -> None:
    with pytest.raises(Invalid):
        snooze_until_custom(ts, 1_700_000_000.0)
