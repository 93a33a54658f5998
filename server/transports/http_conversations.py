"""HTTP routes of the inbox: conversations, messages, commands on a conversation, search,
uploads. Each one is a thin adapter over a Workspace method."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from server.blobs import DEFAULT_TYPE, valid_id
from server.domain.errors import Invalid, NotFound, TooLarge
from server.transports.http_common import (
    context,
    current_user,
    decode_after,
    encode_after,
    json_body,
    json_response,
    query_int,
    query_list,
    string_or_none,
)
from server.workspace import expected_assignee

UPLOAD_CHUNK = 256 * 1024
THEN = ("resolve", "pending", "reopen")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/conversations", list_conversations)
    router.add_post("/api/conversations", start_conversation)
    router.add_get("/api/conversations/{id}", get_conversation)
    router.add_get("/api/conversations/{id}/messages", list_messages)
    router.add_post("/api/conversations/{id}/messages", post_message)
    router.add_post("/api/conversations/{id}/assign", assign)
    router.add_post("/api/conversations/{id}/status", set_status)
    router.add_post("/api/conversations/{id}/snooze", snooze)
    router.add_post("/api/conversations/{id}/tags", add_tag)
    router.add_delete("/api/conversations/{id}/tags/{tag_id}", remove_tag)
    router.add_post("/api/conversations/{id}/customer", link_customer)
    router.add_post("/api/conversations/{id}/render", render)
    router.add_get("/api/search", search)
    router.add_post("/api/uploads", upload)
    router.add_get("/api/uploads/{id}", download)


def _id(request: web.Request) -> str:
    return request.match_info["id"]


def _key(data: dict[str, Any]) -> str | None:
    return string_or_none(data, "idempotency_key", 128)


def _message_answer(result: dict[str, Any]) -> web.Response:
    status = 200 if result.get("duplicate") else 201
    return json_response(
        {"message": result["message"], "conversation": result["conversation"]}, status=status
    )


# ---------------------------------------------------------------------------- reads
async def list_conversations(request: web.Request) -> web.Response:
    """One page of the conversation list, newest activity first; `next` is the next `after`."""
    user = await current_user(request)
    conversations, after = await context(request).workspace.list_conversations(
        user,
        tab=request.query.get("tab") or "all",
        statuses=query_list(request, "status") or None,
        channel=request.query.get("channel") or None,
        account_id=request.query.get("account_id") or None,
        tag_ids=query_list(request, "tag"),
        customer_id=request.query.get("customer_id") or None,
        after=decode_after(request.query.get("after")),
        limit=query_int(request, "limit", 50, low=1, high=200) or 50,
    )
    return json_response(
        {"conversations": [c.to_dict() for c in conversations], "next": encode_after(after)}
    )


async def get_conversation(request: web.Request) -> web.Response:
    """A conversation with its contact, customer, account and current viewers."""
    user = await current_user(request)
    return json_response(await context(request).workspace.conversation_detail(user, _id(request)))


async def list_messages(request: web.Request) -> web.Response:
    """A page of history, newest first, strictly before `before_seq`."""
    user = await current_user(request)
    before = query_int(request, "before_seq", None, low=1, high=2**53)
    limit = query_int(request, "limit", 50, low=1, high=200) or 50
    rows = await context(request).workspace.messages(user, _id(request), before, limit)
    return json_response({"messages": rows})


async def search(request: web.Request) -> web.Response:
    """Full-text search over the messages of the accounts you may see."""
    user = await current_user(request)
    limit = query_int(request, "limit", 20, low=1, high=100) or 20
    hits = await context(request).workspace.search(user, request.query.get("q", ""), limit)
    return json_response(
        {
            "hits": [
                {"message": h.message.to_dict(), "conversation": h.conversation.to_dict()}
                for h in hits
            ]
        }
    )


# ---------------------------------------------------------------------------- commands
async def start_conversation(request: web.Request) -> web.Response:
    """Start a conversation with a recipient (email address, phone number or contact id)."""
    user = await current_user(request)
    data = await json_body(request)
    account_id = string_or_none(data, "account_id", 128)
    if not account_id:
        raise Invalid("account_id is required")
    result = await context(request).workspace.start_conversation(
        user,
        account_id=account_id,
        to=string_or_none(data, "to") or "",
        name=string_or_none(data, "name") or "",
        text="" if data.get("template_id") else _required_text(data),
        subject=string_or_none(data, "subject", 512) or "",
        idempotency_key=_key(data),
        **_template_fields(data),
    )
    return _message_answer(result)


def _template_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A WhatsApp template message: `template_id` and optional `template_params`
    (variable name -> value, for variables the conversation cannot fill)."""
    template_id = string_or_none(data, "template_id", 128)
    params = data.get("template_params") or {}
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= 1024 for k, v in params.items()
    ):
        raise Invalid("template_params must map variable names to strings")
    return {"template_id": template_id, "template_params": params} if template_id else {}


def _required_text(data: dict[str, Any]) -> str:
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Invalid("text is required")
    return text


async def post_message(request: web.Request) -> web.Response:
    """Reply or add a note; a retry with the same `idempotency_key` is stored once."""
    user = await current_user(request)
    data = await json_body(request)
    text = data.get("text", "")
    html = data.get("html", "")
    note = data.get("note", False)
    attachments = data.get("attachments") or []
    then = data.get("then")
    if not isinstance(text, str) or not isinstance(html, str):
        raise Invalid("text and html must be strings")
    if not isinstance(note, bool):
        raise Invalid("note must be true or false")
    if not isinstance(attachments, list) or not all(isinstance(a, str) for a in attachments):
        raise Invalid("attachments must be a list of upload ids")
    if len(attachments) > 20:
        raise Invalid("At most 20 attachments per message")
    if then is not None and then not in THEN:
        raise Invalid("then must be resolve, pending or reopen")
    template = _template_fields(data)
    if not text.strip() and not html.strip() and not attachments and not template:
        raise Invalid("The message is empty")
    result = await context(request).workspace.post_message(
        user,
        _id(request),
        text=text,
        html=html,
        note=note,
        attachment_ids=attachments,
        then=then,
        idempotency_key=_key(data),
        **template,
    )
    return _message_answer(result)


async def assign(request: web.Request) -> web.Response:
    """Assign to a user and/or team; both absent unassigns."""
    user = await current_user(request)
    data = await json_body(request, optional=True)
    conversation = await context(request).workspace.assign(
        user,
        _id(request),
        user_id=string_or_none(data, "user_id", 128),
        team_id=string_or_none(data, "team_id", 128),
        idempotency_key=_key(data),
        expected=expected_assignee(data.get("expected")),
    )
    return json_response({"conversation": conversation.to_dict()})


async def set_status(request: web.Request) -> web.Response:
    """Set the status: open, pending or resolved."""
    user = await current_user(request)
    data = await json_body(request)
    status = data.get("status")
    if status not in ("open", "pending", "resolved"):
        raise Invalid("status must be open, pending or resolved")
    conversation = await context(request).workspace.set_status(user, _id(request), status)
    return json_response({"conversation": conversation.to_dict()})


async def snooze(request: web.Request) -> web.Response:
    """Snooze until a preset (1h, 2h, 4h, tomorrow, next_monday) or an epoch time."""
    user = await current_user(request)
    data = await json_body(request)
    preset = string_or_none(data, "preset", 32)
    until = data.get("until")
    if until is not None and (isinstance(until, bool) or not isinstance(until, int | float)):
        raise Invalid("until must be a time in epoch seconds")
    conversation = await context(request).workspace.snooze(
        user, _id(request), preset=preset, until=float(until) if until is not None else None
    )
    return json_response({"conversation": conversation.to_dict()})


async def add_tag(request: web.Request) -> web.Response:
    """Tag by `tag_id`, or by `name` (creating the tag when it does not exist)."""
    user = await current_user(request)
    data = await json_body(request)
    tag_id = string_or_none(data, "tag_id", 128)
    name = string_or_none(data, "name", 64)
    if not tag_id and not name:
        raise Invalid("Give a tag_id or a name")
    conversation = await context(request).workspace.tag(
        user, _id(request), tag_id=tag_id, name=name
    )
    return json_response({"conversation": conversation.to_dict()})


async def remove_tag(request: web.Request) -> web.Response:
    """Remove a tag from the conversation."""
    user = await current_user(request)
    conversation = await context(request).workspace.untag(
        user, _id(request), request.match_info["tag_id"]
    )
    return json_response({"conversation": conversation.to_dict()})


async def link_customer(request: web.Request) -> web.Response:
    """Link a customer (and branch) to the conversation; `customer_id: null` unlinks."""
    user = await current_user(request)
    data = await json_body(request)
    if "customer_id" not in data:
        raise Invalid("customer_id is required (null unlinks)")
    conversation = await context(request).workspace.link_customer(
        user,
        _id(request),
        customer_id=string_or_none(data, "customer_id", 128),
        branch_id=string_or_none(data, "branch_id", 128),
    )
    return json_response({"conversation": conversation.to_dict()})


async def render(request: web.Request) -> web.Response:
    """Render a template for this conversation."""
    user = await current_user(request)
    data = await json_body(request)
    template_id = string_or_none(data, "template_id", 128)
    if not template_id:
        raise Invalid("template_id is required")
    text = await context(request).workspace.render_template(user, _id(request), template_id)
    return json_response({"text": text})


# ---------------------------------------------------------------------------- uploads
async def upload(request: web.Request) -> web.Response:
    """Upload one file (multipart field `file`); returns the attachment to send with a message."""
    await current_user(request)
    ctx = context(request)
    limit = ctx.settings.max_upload
    declared = request.content_length
    if declared is not None and declared > limit + 65_536:
        raise TooLarge(f"The file is larger than {limit // 1_048_576} MiB")
    if not request.content_type.startswith("multipart/"):
        raise Invalid("Send the file as multipart/form-data in the field file")
    try:
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise Invalid("Send the file as multipart/form-data in the field file")
            if isinstance(part, BodyPartReader) and part.name == "file":
                data = await _read_capped(part, limit)
                filename = part.filename or "file"
                content_type = part.headers.get("Content-Type", DEFAULT_TYPE)
                break
            await part.release()
    except (ValueError, AssertionError):
        raise Invalid("The upload is not valid multipart/form-data") from None
    attachment = await ctx.blobs.put(data, filename, content_type)
    return json_response(attachment.to_dict(), status=201)


async def _read_capped(part: BodyPartReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await part.read_chunk(UPLOAD_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The file is larger than {limit // 1_048_576} MiB")
        chunks.append(chunk)


async def download(request: web.Request) -> web.Response:
    """An uploaded file. Images show inline; everything else downloads."""
    await current_user(request)
    attachment_id = _id(request)
    found = await context(request).blobs.open(attachment_id) if valid_id(attachment_id) else None
    if found is None:
        raise NotFound(f"No upload {attachment_id}")
    attachment, data = found
    inline = attachment.content_type.startswith("image/") and "svg" not in attachment.content_type
    disposition = "inline" if inline else "attachment"
    response = web.Response(body=data, content_type=attachment.content_type)
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename*=UTF-8''{quote(attachment.filename, safe='')}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
