"""`GET /openapi.json`: an OpenAPI 3.1 document generated from the app's router.

Walking `app.router` means no registered route is ever missing from the document. Summaries come
from the handlers' docstrings; request bodies and query parameters of the main routes from the
tables below.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

from server.transports.http_common import json_response

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")
_SKIP_METHODS = {"HEAD", "OPTIONS", "*"}
_NOT_HTTP_API = ("/socket.io",)  # the Socket.IO door is described in docs/api.md

Schema = dict[str, Any]


def _obj(required: list[str] | None = None, /, **props: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
NUM: Schema = {"type": "number"}
NULL_STR: Schema = {"type": ["string", "null"]}
IDS: Schema = {"type": "array", "items": STR}
GRANT = _obj(
    ["user_id"],
    user_id=STR,
    handles_conversations=BOOL,
    can_reassign=BOOL,
    can_clear_assignment=BOOL,
    can_resolve_all=BOOL,
    auto_assign=BOOL,
)
BRANCH = _obj(["name"], id=STR, name=STR, address=STR)
SEND_KEY: Schema = {"enum": ["enter", "ctrl_enter", "none"]}
CREDENTIALS = _obj(["email", "password"], email=STR, password=STR)
USER_FIELDS: dict[str, Schema] = {
    "email": STR,
    "name": STR,
    "role": {"enum": ["admin", "agent"]},
    "password": STR,
    "time_zone": STR,
    "send_key": SEND_KEY,
    "can_manage_groups": BOOL,
}
ACCOUNT_FIELDS: dict[str, Schema] = {
    "name": STR,
    "settings": {"type": "object"},
    "authorized": {"type": "array", "items": GRANT},
    "secrets": {"type": "object", "additionalProperties": NULL_STR},
}
CUSTOMER_FIELDS: dict[str, Schema] = {
    "name": STR,
    "salesman_id": NULL_STR,
    "custom_fields": {
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    },
    "branches": {"type": "array", "items": BRANCH},
}
CONTACT_FIELDS: dict[str, Schema] = {
    "name": STR,
    "email": STR,
    "phone": STR,
    "customer_id": NULL_STR,
    "branch_id": NULL_STR,
}
TAG_FIELDS: dict[str, Schema] = {
    "name": STR,
    "description": STR,
    "color": {"pattern": "^#[0-9a-fA-F]{6}$"},
}
TEMPLATE_FIELDS: dict[str, Schema] = {
    "account_id": STR,
    "name": STR,
    "content": STR,
    "labels": IDS,
    "type": {"enum": ["start", "reply", "window"]},
    # WhatsApp accounts only (docs/api.md, "WhatsApp channel").
    "language": STR,
    "category": {"enum": ["UTILITY", "MARKETING", "AUTHENTICATION"]},
    "content_sid": STR,
}
TEMPLATE_PARAMS: Schema = {"type": "object", "additionalProperties": STR}

BODIES: dict[tuple[str, str], Schema] = {
    ("POST", "/api/login"): CREDENTIALS,
    ("POST", "/api/tokens"): CREDENTIALS,
    ("PATCH", "/api/me"): _obj(
        name=STR, time_zone=STR, send_key=SEND_KEY, password=STR, current_password=STR
    ),
    ("POST", "/api/users"): _obj(["email", "name", "password"], **USER_FIELDS),
    ("PATCH", "/api/users/{id}"): _obj(**USER_FIELDS),
    ("POST", "/api/teams"): _obj(["name"], name=STR, member_ids=IDS),
    ("PATCH", "/api/teams/{id}"): _obj(name=STR, member_ids=IDS),
    ("POST", "/api/accounts"): _obj(
        ["kind", "name"], kind={"enum": ["email", "whatsapp", "api"]}, **ACCOUNT_FIELDS
    ),
    ("PATCH", "/api/accounts/{id}"): _obj(**ACCOUNT_FIELDS),
    ("POST", "/api/contacts"): _obj(["name"], **CONTACT_FIELDS),
    ("PATCH", "/api/contacts/{id}"): _obj(**CONTACT_FIELDS),
    ("POST", "/api/customers"): _obj(["name"], **CUSTOMER_FIELDS),
    ("PATCH", "/api/customers/{id}"): _obj(**CUSTOMER_FIELDS),
    ("POST", "/api/tags"): _obj(["name"], **TAG_FIELDS),
    ("PATCH", "/api/tags/{id}"): _obj(**TAG_FIELDS),
    ("POST", "/api/templates"): _obj(["account_id", "name", "content"], **TEMPLATE_FIELDS),
    ("PATCH", "/api/templates/{id}"): _obj(**TEMPLATE_FIELDS),
    ("POST", "/api/conversations"): _obj(
        ["account_id", "to"],
        account_id=STR,
        to=STR,
        name=STR,
        text=STR,
        subject=STR,
        idempotency_key=STR,
        template_id=STR,
        template_params=TEMPLATE_PARAMS,
    ),
    ("POST", "/api/conversations/{id}/messages"): _obj(
        text=STR,
        html=STR,
        note=BOOL,
        attachments=IDS,
        then={"enum": ["resolve", "pending", "reopen"]},
        idempotency_key=STR,
        template_id=STR,
        template_params=TEMPLATE_PARAMS,
    ),
    ("POST", "/api/conversations/{id}/assign"): _obj(
        user_id=NULL_STR, team_id=NULL_STR, idempotency_key=STR
    ),
    ("POST", "/api/conversations/{id}/status"): _obj(
        ["status"], status={"enum": ["open", "pending", "resolved"]}
    ),
    ("POST", "/api/conversations/{id}/snooze"): _obj(
        preset={"enum": ["1h", "2h", "4h", "tomorrow", "next_monday"]}, until=NUM
    ),
    ("POST", "/api/conversations/{id}/tags"): _obj(tag_id=STR, name=STR),
    ("POST", "/api/conversations/{id}/customer"): _obj(
        ["customer_id"], customer_id=NULL_STR, branch_id=NULL_STR
    ),
    ("POST", "/api/conversations/{id}/render"): _obj(["template_id"], template_id=STR),
    ("POST", "/channels/api/{account_id}/messages"): _obj(
        ["message_id", "from"],
        message_id=STR,
        **{"from": _obj(["id"], id=STR, name=STR, email=STR, phone=STR)},
        text=STR,
        html=STR,
        subject=STR,
        attachments={
            "type": "array",
            "items": _obj(["url"], filename=STR, content_type=STR, url=STR),
        },
    ),
    ("POST", "/channels/api/{account_id}/statuses"): _obj(
        ["message_id", "status"],
        message_id=STR,
        status={"enum": ["delivered", "read", "failed"]},
        reason=STR,
    ),
    ("POST", "/api/groups"): _obj(
        ["account_id", "subject"],
        account_id=STR,
        subject={"type": "string", "maxLength": 128},
        description={"type": "string", "maxLength": 2048},
        join_approval=BOOL,
    ),
    ("PATCH", "/api/conversations/{id}/group"): _obj(
        subject={"type": "string", "maxLength": 128},
        description={"type": "string", "maxLength": 2048},
    ),
    ("POST", "/api/conversations/{id}/group/invites"): _obj(
        ["template_id"],
        template_id=STR,
        phones=IDS,
        conversation_ids=IDS,
        template_params={"type": "object", "additionalProperties": STR},
    ),
}

QUERIES: dict[tuple[str, str], list[str]] = {
    ("GET", "/api/conversations"): [
        "tab",
        "status",
        "channel",
        "account_id",
        "tag",
        "customer_id",
        "after",
        "limit",
    ],
    ("GET", "/api/conversations/{id}/messages"): ["before_seq", "limit"],
    ("GET", "/api/contacts"): ["q"],
    ("GET", "/api/customers"): ["q"],
    ("GET", "/api/templates"): ["q", "account_id"],
    ("GET", "/api/search"): ["q", "limit"],
    ("GET", "/api/metrics"): ["since", "until", "account_id", "business_hours"],
    ("POST", "/api/logout"): ["everywhere"],
    ("GET", "/api/groups/recipients"): ["q"],
    ("GET", "/api/conversations/{id}/group/invite-candidates"): ["q", "cursor"],
}

ERROR = _obj(["error"], error=_obj(["code", "message"], code=STR, message=STR))
PUBLIC = ("/api/login", "/api/tokens", "/api/logout", "/openapi.json", "/healthz", "/readyz")


def _summary(handler: Any) -> tuple[str, str]:
    doc = inspect.getdoc(handler) or ""
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()) or getattr(handler, "__name__", "route"), rest.strip()


def _operation(method: str, path: str, handler: Any) -> dict[str, Any]:
    summary, description = _summary(handler)
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}_{getattr(handler, '__name__', 'route')}",
        "summary": summary,
        "tags": [path.split("/")[2] if path.count("/") >= 2 else "meta"],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {}}},
            "default": {
                "description": "Error",
                "content": {"application/json": {"schema": ERROR}},
            },
        },
    }
    if description:
        op["description"] = description
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": STR}
        for name in _PARAM.findall(path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": STR}
        for name in QUERIES.get((method, path), [])
    ]
    if params:
        op["parameters"] = params
    body = BODIES.get((method, path))
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    elif (method, path) == ("POST", "/api/uploads"):
        op["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": _obj(["file"], file={"type": "string", "format": "binary"})
                }
            },
        }
    if path.startswith("/channels/"):
        op["security"] = [{"channelToken": []}]
    elif path in PUBLIC:
        op["security"] = []
    return op


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document for every method+path route registered on `app`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        method = route.method.upper()
        if method in _SKIP_METHODS or isinstance(route.resource, web.StaticResource):
            continue
        canonical = route.resource.canonical if route.resource is not None else ""
        if not canonical.startswith("/") or canonical.startswith(_NOT_HTTP_API):
            continue
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", canonical)
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, route.handler)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Conversations API",
            "version": "1",
            "description": "The agent API and the API channel; see docs/api.md.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "conv_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "channelToken": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {"Error": ERROR},
        },
        "security": [{"session": []}, {"bearer": []}],
    }


async def openapi_json(request: web.Request) -> web.Response:
    """This document."""
    return json_response(build(request.app))
