"""Delivery ticks only move forward; conversation status follows agent and customer actions."""

from __future__ import annotations

import pytest

from server.domain.delivery import ACTIONS, advance, next_status
from server.domain.errors import Invalid
from server.domain.models import ConversationStatus, DeliveryStatus

Q, S, D, R, F = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.FAILED,
)
OPEN, PENDING, SNOOZED, RESOLVED = (
    ConversationStatus.OPEN,
    ConversationStatus.PENDING,
    ConversationStatus.SNOOZED,
    ConversationStatus.RESOLVED,
)


@pytest.mark.parametrize(
    ("current", "new"), [(Q, S), (S, D), (D, R), (Q, D), (Q, R), (S, R), (None, Q), (None, R)]
)
def test_ticks_move_forward(current: DeliveryStatus | None, new: DeliveryStatus) -> None:
    assert advance(current, new) == new


@pytest.mark.parametrize(("current", "new"), [(R, D), (R, S), (D, S), (S, Q), (D, Q)])
def test_late_reports_never_move_a_tick_backwards(
    current: DeliveryStatus, new: DeliveryStatus
) -> None:
    assert advance(current, new) is None


@pytest.mark.parametrize("status", list(DeliveryStatus))
def test_the_same_report_twice_is_ignored(status: DeliveryStatus) -> None:
    assert advance(status, status) is None


@pytest.mark.parametrize("current", [None, Q, S, D])
def test_failure_replaces_any_status_before_read(current: DeliveryStatus | None) -> None:
    assert advance(current, F) == F


def test_a_message_the_customer_read_does_not_turn_failed() -> None:
    assert advance(R, F) is None


@pytest.mark.parametrize("new", [Q, S, D, R])
def test_a_failed_message_stays_failed(new: DeliveryStatus) -> None:
    assert advance(F, new) is None


@pytest.mark.parametrize("current", list(ConversationStatus))
def test_resolve_pending_snooze_and_reopen_work_from_any_status(
    current: ConversationStatus,
) -> None:
    assert next_status(current, "resolve") == RESOLVED
    assert next_status(current, "pending") == PENDING
    assert next_status(current, "snooze") == SNOOZED
    assert next_status(current, "reopen") == OPEN


@pytest.mark.parametrize("current", [RESOLVED, PENDING, SNOOZED, OPEN])
def test_a_customer_message_brings_the_conversation_back_to_open(
    current: ConversationStatus,
) -> None:
    assert next_status(current, "inbound") == OPEN


def test_snoozed_conversation_wakes_up_open() -> None:
    assert next_status(SNOOZED, "wake") == OPEN


@pytest.mark.parametrize("current", [OPEN, PENDING, RESOLVED])
def test_waking_a_conversation_that_is_not_snoozed_is_refused(
    current: ConversationStatus,
) -> None:
    with pytest.raises(Invalid, match="Only a snoozed conversation"):
        next_status(current, "wake")


def test_unknown_action_is_refused_with_the_valid_ones_listed() -> None:
    with pytest.raises(Invalid, match="resolve, reopen"):
        next_status(OPEN, "archive")
    assert set(ACTIONS) == {"resolve", "reopen", "pending", "snooze", "wake", "inbound"}
