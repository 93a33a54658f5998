"""State machines: outbound delivery status and conversation status.

Delivery: queued < sent < delivered < read, and `failed`. Provider callbacks arrive late,
twice, or out of order, so `advance` only ever moves forward:

* the same status again, or an earlier one (delivered after read), is ignored;
* `failed` is terminal: nothing moves a message out of it (a retry is a new send, which the
  caller records explicitly, not a status report);
* `failed` may replace queued, sent or delivered, but not `read`: the customer has read the
  message, so a failure report after that is stale and is ignored.
"""

from __future__ import annotations

from server.domain.errors import Invalid
from server.domain.models import ConversationStatus, DeliveryStatus

_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
}


def advance(current: DeliveryStatus | None, new: DeliveryStatus) -> DeliveryStatus | None:
    """The status to store after a report of `new`, or None when the report must be ignored."""
    if current is None:
        return new
    if current == new or current == DeliveryStatus.FAILED:
        return None
    if new == DeliveryStatus.FAILED:
        return None if current == DeliveryStatus.READ else new
    return new if _RANK[new] > _RANK[current] else None


ACTIONS = ("resolve", "reopen", "pending", "snooze", "wake", "inbound")

_OPEN = ConversationStatus.OPEN
_TARGET = {
    "resolve": ConversationStatus.RESOLVED,
    "reopen": ConversationStatus.OPEN,
    "pending": ConversationStatus.PENDING,
    "snooze": ConversationStatus.SNOOZED,
}


def next_status(current: ConversationStatus, action: str) -> ConversationStatus:
    """The conversation status after `action`.

    * resolve / reopen / pending / snooze: set that status from any status. Repeating one
      returns the same status (a double click is not an error; snoozing a snoozed conversation
      just moves its wake-up time). Callers compare with `current` to skip no-op events.
    * wake (the snooze timer fired): snoozed -> open; Invalid from any other status, e.g. a
      timer that fires after an inbound message already reopened the conversation.
    * inbound (a customer message arrived): resolved, pending and snoozed become open.
    """
    if action in _TARGET:
        return _TARGET[action]
    if action == "wake":
        if current != ConversationStatus.SNOOZED:
            raise Invalid(f"Only a snoozed conversation can wake up; this one is {current}")
        return _OPEN
    if action == "inbound":
        return _OPEN
    raise Invalid(f"Unknown conversation action {action!r}; expected one of {', '.join(ACTIONS)}")
