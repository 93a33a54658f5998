"""WhatsApp's 24-hour customer service window: pure rules, no I/O.

WhatsApp delivers free-form messages (text, media) only within 24 hours of the customer's last
message; only a customer message opens or extends the window. Outside it the business must send
an approved template: a *Window* (or *Start*) template re-engages a customer who wrote before,
and a conversation the business starts (no customer message yet) needs a *Start* template.
Inside the window every approved template may be sent too. Private notes never leave the
inbox, so the window does not apply to them.
"""

from __future__ import annotations

from server.domain.errors import Invalid
from server.domain.models import Template, TemplateApproval, TemplateType

WINDOW_SECONDS = 24 * 3600.0


def expires_at(last_inbound_at: float) -> float | None:
    """When the window closes, or None when the customer never wrote (it never opened)."""
    if last_inbound_at <= 0:
        return None
    return last_inbound_at + WINDOW_SECONDS


def is_open(last_inbound_at: float, now: float) -> bool:
    closes = expires_at(last_inbound_at)
    return closes is not None and now < closes


def check_send(last_inbound_at: float, now: float, template: Template | None) -> None:
    """Raise `Invalid` (with a stable code) when this outbound message may not be sent now.

    Codes: `window_closed` (free-form outside the window, or a template of the wrong type),
    `template_not_approved` (the template is pending, rejected, paused or disabled).
    """
    if template is not None and template.approval != TemplateApproval.APPROVED:
        state = template.approval or "not submitted"
        raise Invalid(
            f"Template {template.name!r} is {state}: only templates WhatsApp approved can be sent",
            code="template_not_approved",
        )
    if is_open(last_inbound_at, now):
        return
    if expires_at(last_inbound_at) is None:
        if template is None or template.type != TemplateType.START:
            raise Invalid(
                "The customer has not written yet: start the conversation with an approved"
                " Start template",
                code="window_closed",
            )
        return
    if template is None or template.type not in (TemplateType.WINDOW, TemplateType.START):
        raise Invalid(
            "The 24-hour window is closed (the customer's last message is more than 24 hours"
            " old): send an approved Window template",
            code="window_closed",
        )
