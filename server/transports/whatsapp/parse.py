"""Webhook payloads of both providers -> what the inbox stores.

Pure functions: no I/O. Media is returned as references (`MediaRef`) for the webhook handler to
download. Message types the inbox cannot show as such (location, shared contacts, button and
list replies, reactions, unsupported types) become a readable text line rather than being
dropped. A payload that is not the documented shape raises `PayloadError` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.domain.errors import Invalid
from server.domain.groups import GroupChange
from server.domain.models import TemplateApproval
from server.transports.base import Inbound
from server.transports.whatsapp.config import normalize_phone

MAX_TEXT = 65_536
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
DELIVERY_STATUSES = ("sent", "delivered", "read", "failed")
# Twilio's MessageStatus values -> ours; queued/sending/accepted/scheduled say nothing new.
TWILIO_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
}
REVIEW_STATES = {
    "APPROVED": TemplateApproval.APPROVED,
    "REJECTED": TemplateApproval.REJECTED,
    "PENDING": TemplateApproval.PENDING,
    "PAUSED": TemplateApproval.PAUSED,
    "DISABLED": TemplateApproval.DISABLED,
    "FLAGGED": TemplateApproval.PAUSED,
}


class PayloadError(ValueError):
    """The webhook body is not the provider's documented shape."""


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file to download: a Cloud API media id, or a Twilio media URL."""

    ref: str
    content_type: str
    filename: str


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    inbound: Inbound
    media: tuple[MediaRef, ...] = ()
    group_id: str = ""  # set when a participant wrote in a WhatsApp group


@dataclass(frozen=True, slots=True)
class GroupUpdate:
    """One item of a group webhook (`value.groups[]`): which group (or, for a create, which
    request) and what changed."""

    field: str
    change: GroupChange
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # sent | delivered | read | failed
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TemplateReview:
    provider_template_id: str
    name: str
    approval: TemplateApproval
    reason: str = ""


@dataclass(slots=True)
class CloudWebhook:
    messages: list[ParsedMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    reviews: list[TemplateReview] = field(default_factory=list)
    groups: list[GroupUpdate] = field(default_factory=list)
    skipped: int = 0  # changes for another phone number or of a field we do not handle


# ---------------------------------------------------------------------------- Meta Cloud API
def parse_cloud(payload: Any, phone_number_id: str) -> CloudWebhook:
    """`entry[].changes[]` of a `whatsapp_business_account` webhook. Changes for another phone
    number of the same app are skipped (counted), not refused."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise PayloadError("object must be whatsapp_business_account")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("entry must be a list")
    out = CloudWebhook()
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise PayloadError("entry[].changes must be a list")
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise PayloadError("entry[].changes[].value must be an object")
            value = change["value"]
            match change.get("field"):
                case "messages":
                    metadata = value.get("metadata")
                    if not isinstance(metadata, dict):
                        raise PayloadError("value.metadata is missing")
                    if str(metadata.get("phone_number_id", "")) != phone_number_id:
                        out.skipped += 1
                        continue
                    names = _profile_names(value.get("contacts"))
                    for message in _list(value, "messages"):
                        out.messages.append(_cloud_message(message, names))
                    for status in _list(value, "statuses"):
                        update = _cloud_status(status)
                        if update is not None:
                            out.statuses.append(update)
                case "message_template_status_update":
                    out.reviews.append(_review(value))
                case field_name if field_name in GROUP_FIELDS:
                    metadata = value.get("metadata")
                    number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
                    if number is not None and str(number) != phone_number_id:
                        out.skipped += 1
                        continue
                    for item in _list(value, "groups"):
                        group_update = _group_update(str(field_name), item)
                        if group_update is None:
                            out.skipped += 1
                        else:
                            out.groups.append(group_update)
                case _:
                    out.skipped += 1
    return out


def _list(value: dict[str, Any], name: str) -> list[Any]:
    items = value.get(name, [])
    if not isinstance(items, list):
        raise PayloadError(f"value.{name} must be a list")
    return items


def _profile_names(contacts: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    if isinstance(contacts, list):
        for contact in contacts:
            if isinstance(contact, dict) and isinstance(contact.get("wa_id"), str):
                profile = contact.get("profile")
                name = profile.get("name") if isinstance(profile, dict) else None
                if isinstance(name, str):
                    names[contact["wa_id"]] = name[:256]
    return names


def _str(obj: Any, name: str) -> str:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def _cloud_message(message: Any, names: dict[str, str]) -> ParsedMessage:
    if not isinstance(message, dict):
        raise PayloadError("value.messages[] must be objects")
    wamid, sender, kind = _str(message, "id"), _str(message, "from"), _str(message, "type")
    if not wamid or len(wamid) > 256:
        raise PayloadError("messages[].id must be a non-empty string")
    try:
        phone = normalize_phone(sender)
    except Invalid:
        raise PayloadError(f"messages[].from {sender!r} is not a phone number") from None
    body = message.get(kind) if kind else None
    media: tuple[MediaRef, ...] = ()
    if kind == "text":
        text = _str(body, "body")
    elif kind in MEDIA_TYPES:
        media_id = _str(body, "id")
        if not media_id:
            raise PayloadError(f"messages[].{kind}.id is missing")
        mime = _str(body, "mime_type") or "application/octet-stream"
        filename = _str(body, "filename") or f"{kind}{_extension(mime)}"
        media = (MediaRef(media_id, mime, filename),)
        text = _str(body, "caption")
    else:
        text = _describe(kind, body, message)
    group_id = _str(message, "group_id")
    if len(group_id) > 256:
        raise PayloadError("messages[].group_id is too long")
    return ParsedMessage(
        Inbound(
            provider_message_id=wamid,
            handle=phone,
            name=names.get(sender, ""),
            phone=phone,
            text=text[:MAX_TEXT],
        ),
        media,
        group_id,
    )


def _describe(kind: str, body: Any, message: dict[str, Any]) -> str:
    """A readable line for a message type the inbox has no widget for."""
    match kind:
        case "location":
            lat, lng = _num(body, "latitude"), _num(body, "longitude")
            label = ", ".join(x for x in (_str(body, "name"), _str(body, "address")) if x)
            where = f"{lat}, {lng}" if lat is not None and lng is not None else "unknown place"
            link = f" https://maps.google.com/?q={lat},{lng}" if lat is not None else ""
            return f"Location: {label + ' ' if label else ''}({where}){link}"
        case "contacts":
            shared = []
            for card in body if isinstance(body, list) else []:
                name = _str(card.get("name") if isinstance(card, dict) else None, "formatted_name")
                phones = [
                    _str(p, "phone")
                    for p in (card.get("phones") or [] if isinstance(card, dict) else [])
                ]
                numbers = ", ".join(p for p in phones if p)
                shared.append(f"{name or 'Unnamed'}{f' ({numbers})' if numbers else ''}")
            return "Shared contact: " + ("; ".join(shared) or "(empty)")
        case "interactive":
            reply_kind = _str(body, "type")
            reply = body.get(reply_kind) if isinstance(body, dict) else None
            title = _str(reply, "title") or _str(reply, "id")
            description = _str(reply, "description")
            return f"Selected: {title}" + (f" ({description})" if description else "")
        case "button":
            return f"Pressed: {_str(body, 'text') or _str(body, 'payload')}"
        case "reaction":
            emoji = _str(body, "emoji")
            return f"Reacted {emoji} to a message" if emoji else "Removed a reaction"
        case "system":
            return f"WhatsApp: {_str(body, 'body') or 'system notice'}"
        case "order":
            items = body.get("product_items") if isinstance(body, dict) else None
            return f"Sent an order of {len(items) if isinstance(items, list) else 0} item(s)"
    errors = message.get("errors")
    detail = ""
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        detail = f": {_str(errors[0], 'title') or _str(errors[0], 'message')}"
    return f"[Unsupported WhatsApp message type {kind or 'unknown'}{detail}]"


def _num(obj: Any, name: str) -> float | None:
    value = obj.get(name) if isinstance(obj, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _extension(mime: str) -> str:
    known = {
        "image/jpeg": ".jpg",
        "image/png": ".png",
        "image/webp": ".webp",
        "video/mp4": ".mp4",
        "audio/ogg": ".ogg",
        "audio/mpeg": ".mp3",
        "application/pdf": ".pdf",
    }
    return known.get(mime.split(";", 1)[0].strip(), "")


def _cloud_status(status: Any) -> StatusUpdate | None:
    if not isinstance(status, dict) or not _str(status, "id"):
        raise PayloadError("value.statuses[].id is missing")
    state = _str(status, "status")
    if state not in DELIVERY_STATUSES:
        return None  # "deleted", "warning"...: nothing to show on the message
    reason = ""
    errors = status.get("errors")
    if state == "failed" and isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        details = _str(first.get("error_data"), "details")
        title = _str(first, "title") or _str(first, "message")
        reason = f"WhatsApp error {first.get('code', '?')}: {title}"
        if details and details != title:
            reason += f" ({details})"
    return StatusUpdate(_str(status, "id"), state, reason[:500])


def _review(value: dict[str, Any]) -> TemplateReview:
    event = _str(value, "event")
    template_id = value.get("message_template_id")
    if template_id is None or event not in REVIEW_STATES:
        raise PayloadError("message_template_status_update needs message_template_id and event")
    reason = _str(value, "reason")
    return TemplateReview(
        provider_template_id=str(template_id),
        name=_str(value, "message_template_name"),
        approval=REVIEW_STATES[event],
        reason="" if reason in ("", "NONE") else reason,
    )


# ---------------------------------------------------------------------------- groups
GROUP_FIELDS = (
    "group_lifecycle_update",
    "group_participants_update",
    "group_settings_update",
    "group_status_update",
)


def _timestamp(item: dict[str, Any]) -> float:
    try:
        return float(item.get("timestamp") or 0)
    except (TypeError, ValueError):
        return 0.0


def _error_reason(item: dict[str, Any]) -> str:
    errors = item.get("errors")
    if not isinstance(errors, list) or not errors:
        return ""
    first = errors[0] if isinstance(errors[0], dict) else {}
    title = _str(first, "title") or _str(first, "message") or "error"
    details = _str(first.get("error_data"), "details")
    reason = f"WhatsApp error {first.get('code', '?')}: {title}"
    if details and details != title:
        reason += f" ({details})"
    return reason[:500]


def _people(items: Any) -> tuple[tuple[str, str], ...]:
    """(wa_id, name) pairs from `[{"wa_id", "profile"?: {"name"}}]`."""
    out = []
    for item in items if isinstance(items, list) else []:
        wa_id = _str(item, "wa_id") or _str(item, "input")
        if not wa_id:
            continue
        try:
            wa_id = normalize_phone(wa_id).lstrip("+")
        except Invalid:
            raise PayloadError(f"participant {wa_id!r} is not a phone number") from None
        name = _str(item.get("profile"), "name") or _str(item, "name")
        out.append((wa_id, name[:256]))
    return tuple(out)


def _group_update(field_name: str, item: Any) -> GroupUpdate | None:
    """One `value.groups[]` item; None for a type we do not act on (a failed settings change,
    a failed removal: nothing changed)."""
    if not isinstance(item, dict):
        raise PayloadError("value.groups[] must be objects")
    kind, group_id = _str(item, "type"), _str(item, "group_id")
    request_id, at = _str(item, "request_id"), _timestamp(item)
    if len(group_id) > 256 or len(request_id) > 256:
        raise PayloadError("group_id and request_id must be at most 256 characters")
    error = _error_reason(item)

    def update(change_kind: str, **values: Any) -> GroupUpdate:
        change = GroupChange(change_kind, group_id=group_id, at=at, **values)
        return GroupUpdate(field_name, change, request_id)

    match kind:
        case "group_create":
            if not request_id:
                raise PayloadError("group_create needs request_id")
            if error:
                return update("create_failed", reason=error)
            if not group_id:
                raise PayloadError("group_create needs group_id")
            return update("created", invite_link=_str(item, "invite_link")[:2048])
        case "group_delete":
            return None if error or not group_id else update("deleted")
    if not group_id:
        raise PayloadError(f"{kind or 'a group update'} needs group_id")
    match kind:
        case "group_participants_add":
            people = _people(item.get("added_participants"))
            return update("joined", participants=people) if people else None
        case "group_participants_remove":
            people = _people(item.get("removed_participants"))
            if not people:
                return None
            left = _str(item, "initiated_by") == "participant"
            return update("left" if left else "removed", participants=people)
        case "group_join_request_created" | "group_join_request_revoked":
            request = _str(item, "join_request_id")
            wa_id = _str(item, "wa_id")
            if not request or not wa_id:
                raise PayloadError(f"{kind} needs join_request_id and wa_id")
            people = _people([{"wa_id": wa_id, "profile": item.get("profile")}])
            change_kind = (
                "join_requested" if kind == "group_join_request_created" else "join_request_revoked"
            )
            return update(change_kind, participants=people, join_request_id=request)
        case "group_settings_update":
            if error:
                return None
            subject = item.get("group_subject")
            description = item.get("group_description")
            return update(
                "settings",
                subject=_str(subject, "text")[:128] if isinstance(subject, dict) else None,
                description=(
                    _str(description, "text")[:2048] if isinstance(description, dict) else None
                ),
            )
        case "group_suspend":
            return update("suspended")
        case "group_suspend_cleared":
            return update("suspension_lifted")
    return None


# ---------------------------------------------------------------------------- Twilio
def parse_twilio(form: Mapping[str, str]) -> ParsedMessage | StatusUpdate | None:
    """An inbound message, a status callback, or None for a status that says nothing new."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid or len(sid) > 64:
        raise PayloadError("MessageSid is missing")
    status = form.get("MessageStatus") or ""
    if status and status not in ("received", "receiving"):
        ours = TWILIO_STATUSES.get(status)
        if ours is None:
            return None
        reason = ""
        if ours == "failed":
            code = form.get("ErrorCode") or "?"
            reason = f"Twilio error {code}: {form.get('ErrorMessage') or status}"
        return StatusUpdate(sid, ours, reason[:500])
    sender = form.get("From") or ""
    if not sender.startswith("whatsapp:"):
        raise PayloadError("From must be a whatsapp: address")
    try:
        phone = normalize_phone(sender)
    except Invalid:
        raise PayloadError(f"From {sender!r} is not a phone number") from None
    try:
        count = int(form.get("NumMedia") or "0")
    except ValueError:
        raise PayloadError("NumMedia must be a number") from None
    if not 0 <= count <= 10:
        raise PayloadError("NumMedia must be between 0 and 10")
    media = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}") or ""
        if not url.startswith(("https://", "http://")):
            raise PayloadError(f"MediaUrl{index} is missing")
        mime = form.get(f"MediaContentType{index}") or "application/octet-stream"
        media.append(MediaRef(url, mime, f"media-{index + 1}{_extension(mime)}"))
    text = form.get("Body") or ""
    if not text and form.get("Latitude") and form.get("Longitude"):
        lat, lng = form["Latitude"], form["Longitude"]
        label = form.get("Label") or form.get("Address") or ""
        text = f"Location: {label + ' ' if label else ''}({lat}, {lng})"
    if form.get("ButtonText") and not text:
        text = f"Pressed: {form['ButtonText']}"
    if not text and not media:
        text = "[Unsupported WhatsApp message: no text or media]"
    return ParsedMessage(
        Inbound(
            provider_message_id=sid,
            handle=phone,
            name=(form.get("ProfileName") or "")[:256],
            phone=phone,
            text=text[:MAX_TEXT],
        ),
        tuple(media),
    )
