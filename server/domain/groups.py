"""WhatsApp groups: pure rules, no I/O.

A group conversation (`Conversation.group`) is hosted by one business number (Meta Cloud API,
Official Business Accounts only). Its rules differ from a 1:1 WhatsApp thread:

- no 24-hour window: free-form messages go out at any time; templates too (still approved);
- at most 8 participants, the host number included; people join only through the invite link
  (WhatsApp cannot add them directly), so a full group refuses approving join requests and
  sending more invites;
- auto-replies never fire; assignment rules apply but have no single contact to key on;
- a suspended group (WhatsApp's `group_status_update`) refuses outgoing messages until lifted;
- a deleted group is a read-only archive: history and participants stay, nothing is sent;
- creating, deleting, editing the subject, description and participants, answering join
  requests and sending invites need the user's "Manage WhatsApp Groups" permission
  (`User.can_manage_groups`), admins included; everyone who can see the account reads and
  replies.

`apply` turns one change (from WhatsApp's webhooks, or from an agent's accepted Graph call) into
the new group state and the system lines the timeline shows. It is idempotent: a change that is
already reflected (a webhook confirming an agent's own action, a redelivery) yields no line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.domain import permissions
from server.domain.errors import Conflict, Forbidden, Invalid
from server.domain.models import (
    ChannelAccount,
    GroupInfo,
    GroupJoinRequest,
    GroupParticipant,
    GroupState,
    Template,
    TemplateApproval,
    User,
)

MAX_PARTICIPANTS = 8  # the host number included
MAX_SUBJECT = 128
MAX_DESCRIPTION = 2048
HOST_ROLE = "admin"
JOIN_MODES = {True: "approval_required", False: "auto_approve"}

# What `GroupChange.kind` may be.
KINDS = (
    "created",  # group_create succeeded: group id and invite link
    "create_failed",
    "joined",  # participants joined (invite link or approved request)
    "left",  # a participant left on their own
    "removed",  # a participant was removed (by the business)
    "join_requested",
    "join_request_revoked",  # the requester cancelled
    "join_request_approved",
    "join_request_rejected",
    "join_requests",  # the full pending list, as listed by the Graph API
    "settings",  # subject and/or description
    "invite_link",
    "suspended",
    "suspension_lifted",
    "deleted",
)


@dataclass(frozen=True, slots=True)
class GroupChange:
    """One thing that happened to a group. `participants` are (wa_id, name) pairs."""

    kind: str
    group_id: str = ""
    invite_link: str = ""
    subject: str | None = None
    description: str | None = None
    participants: tuple[tuple[str, str], ...] = ()
    join_request_id: str = ""
    join_requests: tuple[GroupJoinRequest, ...] = ()
    reason: str = ""
    at: float = 0.0


Line = tuple[str, dict[str, Any]]


# ---------------------------------------------------------------------------- checks
def can_manage(user: User, account: ChannelAccount) -> bool:
    return permissions.can_view(user, account) and user.can_manage_groups


def check_manage(user: User, account: ChannelAccount) -> None:
    """Creating, deleting, participants, join requests, invites, subject and description."""
    permissions.check_view(user, account)
    if not user.can_manage_groups:
        raise Forbidden(
            "You need the Manage WhatsApp Groups permission to do this",
            code="group_permission",
        )


def eligible(account: ChannelAccount) -> bool:
    """Whether the account's number may host groups: a Cloud API number that the Graph API
    reported as an Official Business Account (`settings.official_business_account`)."""
    settings = account.settings
    return (
        account.kind == "whatsapp"
        and settings.get("provider") == "cloud"
        and settings.get("official_business_account") is True
    )


def check_eligible(account: ChannelAccount) -> None:
    if not eligible(account):
        raise Invalid(
            f"{account.name} cannot host WhatsApp groups: only Cloud API numbers that are"
            " Official Business Accounts can (an admin refreshes this from Meta)",
            code="group_sender_not_eligible",
        )


def clean_subject(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("A group needs a subject (the name members see)")
    subject = " ".join(value.split())
    if len(subject) > MAX_SUBJECT:
        raise Invalid(f"The group subject must be at most {MAX_SUBJECT} characters")
    return subject


def clean_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("The group description must be text")
    description = value.strip()
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(f"The group description must be at most {MAX_DESCRIPTION} characters")
    return description


def check_live(group: GroupInfo) -> None:
    """The group exists at WhatsApp and is not deleted: it can be managed."""
    if group.state == GroupState.DELETED:
        raise Invalid(
            "This group was deleted: the conversation is a read-only archive",
            code="group_deleted",
        )
    if group.state == GroupState.FAILED:
        raise Invalid(
            f"WhatsApp could not create this group: {group.failure_reason or 'no reason given'}",
            code="group_failed",
        )
    if group.state == GroupState.CREATING or not group.group_id:
        raise Invalid(
            "WhatsApp is still creating this group: try again in a moment",
            code="group_not_ready",
        )


def check_send(group: GroupInfo, template: Template | None, *, note: bool = False) -> None:
    """May a message (or a private note) be added to this group conversation now?

    No 24-hour window; an outgoing template must still be approved. Codes: `group_deleted`
    (notes too: the archive is read-only), `group_suspended`, `group_not_ready`,
    `group_failed`, `template_not_approved`.
    """
    if group.state == GroupState.DELETED:
        raise Invalid(
            "This group was deleted: the conversation is a read-only archive and nothing can"
            " be sent or added",
            code="group_deleted",
        )
    if note:
        return
    check_live(group)
    if group.suspended:
        raise Invalid(
            "WhatsApp suspended this group: outgoing messages are blocked until the suspension"
            " is lifted",
            code="group_suspended",
        )
    if template is not None and template.approval != TemplateApproval.APPROVED:
        state = template.approval or "not submitted"
        raise Invalid(
            f"Template {template.name!r} is {state}: only templates WhatsApp approved can be sent",
            code="template_not_approved",
        )


def free_slots(group: GroupInfo) -> int:
    return max(0, MAX_PARTICIPANTS - len(group.participants))


def check_room(group: GroupInfo, joining: int = 1) -> None:
    """Refuse admitting `joining` more people past 8 participants (host included)."""
    if joining > free_slots(group):
        raise Conflict(
            f"The group is full: WhatsApp groups have at most {MAX_PARTICIPANTS} participants,"
            " the host number included",
            code="group_full",
        )


def new_group(
    *,
    request_id: str,
    host_number: str,
    subject: str,
    description: str,
    join_approval: bool,
    created_by: str,
) -> GroupInfo:
    """A group just asked for: the host number is its first participant (admin)."""
    host = host_number.lstrip("+")
    return GroupInfo(
        request_id=request_id,
        host_number=host,
        subject=subject,
        description=description,
        join_approval=join_approval,
        participants=[GroupParticipant(wa_id=host, name="Host number", role=HOST_ROLE)]
        if host
        else [],
        state=GroupState.CREATING,
        created_by=created_by,
    )


# ---------------------------------------------------------------------------- changes
def _who(wa_id: str, name: str) -> str:
    return f"{name} (+{wa_id})" if name and name.lstrip("+") != wa_id else f"+{wa_id}"


def _find(group: GroupInfo, wa_id: str) -> GroupParticipant | None:
    return next((p for p in group.participants if p.wa_id == wa_id), None)


def _drop_request(group: GroupInfo, *, request_id: str = "", wa_id: str = "") -> bool:
    before = len(group.join_requests)
    group.join_requests = [
        r
        for r in group.join_requests
        if not ((request_id and r.id == request_id) or (wa_id and r.wa_id == wa_id))
    ]
    return len(group.join_requests) != before


def apply(group: GroupInfo, change: GroupChange, *, by: str | None, now: float) -> list[Line]:
    """Apply `change` to `group` (mutated) and return the system lines to add.

    `by` is the acting user's name (an agent's accepted action) or None (WhatsApp said so).
    """
    at = change.at or now
    lines: list[Line] = []

    def line(text: str, event: str, **data: Any) -> None:
        lines.append((text, {"group_event": event, **data}))

    match change.kind:
        case "created":
            if group.state != GroupState.CREATING:
                return []
            group.group_id = change.group_id or group.group_id
            group.invite_link = change.invite_link or group.invite_link
            group.state = GroupState.ACTIVE
            line(f"WhatsApp created the group {group.subject!r}", "created")
        case "create_failed":
            if group.state != GroupState.CREATING:
                return []
            group.state = GroupState.FAILED
            group.failure_reason = change.reason[:500]
            line(f"WhatsApp could not create the group: {group.failure_reason}", "create_failed")
        case "joined":
            for wa_id, name in change.participants:
                _drop_request(group, wa_id=wa_id)
                if _find(group, wa_id) is not None:
                    continue
                group.participants.append(GroupParticipant(wa_id, name, "member", at))
                line(f"{_who(wa_id, name)} joined the group", "joined", wa_id=wa_id)
        case "left" | "removed":
            for wa_id, name in change.participants:
                member = _find(group, wa_id)
                if member is None:
                    continue
                group.participants.remove(member)
                who = _who(wa_id, name or member.name)
                if change.kind == "left":
                    line(f"{who} left the group", "left", wa_id=wa_id)
                else:
                    line(
                        f"{who} was removed by {by or 'the business'}",
                        "removed",
                        wa_id=wa_id,
                        by=by or "",
                    )
        case "join_requested":
            wa_id, name = change.participants[0] if change.participants else ("", "")
            if not change.join_request_id or any(
                r.id == change.join_request_id for r in group.join_requests
            ):
                return []
            if _find(group, wa_id) is not None:
                return []
            group.join_requests.append(GroupJoinRequest(change.join_request_id, wa_id, name, at))
            line(f"{_who(wa_id, name)} asked to join the group", "join_requested", wa_id=wa_id)
        case "join_request_revoked":
            wa_id, name = change.participants[0] if change.participants else ("", "")
            if _drop_request(group, request_id=change.join_request_id, wa_id=wa_id):
                line(f"{_who(wa_id, name)} withdrew their join request", "join_request_revoked")
        case "join_request_approved" | "join_request_rejected":
            request = next((r for r in group.join_requests if r.id == change.join_request_id), None)
            if request is None:
                return []
            _drop_request(group, request_id=request.id)
            verb = "approved" if change.kind == "join_request_approved" else "rejected"
            who = _who(request.wa_id, request.name)
            line(
                f"{by or 'WhatsApp'} {verb} the join request of {who}",
                change.kind,
                wa_id=request.wa_id,
            )
        case "join_requests":
            group.join_requests = list(change.join_requests)
        case "settings":
            if change.subject is not None and change.subject != group.subject:
                group.subject = change.subject
                line(
                    f"{by or 'WhatsApp'} changed the group subject to {change.subject!r}",
                    "subject",
                )
            if change.description is not None and change.description != group.description:
                group.description = change.description
                line(
                    f"{by or 'WhatsApp'} changed the group description"
                    + (f" to {change.description!r}" if change.description else " (now empty)"),
                    "description",
                )
        case "invite_link":
            if change.invite_link and change.invite_link != group.invite_link:
                refreshed = bool(group.invite_link)
                group.invite_link = change.invite_link
                if refreshed and by:
                    line(f"{by} reset the invite link (the old one stops working)", "invite_link")
        case "suspended":
            if not group.suspended:
                group.suspended = True
                line(
                    "WhatsApp suspended this group: outgoing messages are blocked",
                    "suspended",
                )
        case "suspension_lifted":
            if group.suspended:
                group.suspended = False
                line("WhatsApp lifted the suspension of this group", "suspension_lifted")
        case "deleted":
            if group.state == GroupState.DELETED:
                return []
            group.state = GroupState.DELETED
            group.deleted_at = at
            group.deleted_by = by or "WhatsApp"
            group.join_requests = []
            when = datetime.fromtimestamp(at, UTC).strftime("%a %d %b %Y %H:%M UTC")
            line(
                f"{by or 'WhatsApp'} deleted the group on {when}; this conversation is now a"
                " read-only archive",
                "deleted",
                by=group.deleted_by,
                at=at,
            )
        case _:
            raise Invalid(f"Unknown group change {change.kind!r}")
    return lines
