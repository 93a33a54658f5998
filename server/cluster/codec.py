"""JSON-safe encoding of conversation commands and replies, for forwarding to the owner node.

Commands are frozen dataclasses whose fields are plain values, records (`Record` subclasses)
or tuples of records; the encoding tags records with their class so the owner rebuilds the very
same command.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from server.domain import commands as c
from server.domain import errors, models

_COMMANDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        c.AppendInbound,
        c.PostMessage,
        c.Assign,
        c.SetStatus,
        c.Snooze,
        c.Wake,
        c.AddTag,
        c.RemoveTag,
        c.LinkCustomer,
        c.ReportDelivery,
        c.AddAssistantNote,
        c.Get,
    )
}
_RECORDS: dict[str, type[models.Record]] = {
    cls.__name__: cls
    for cls in (
        models.User,
        models.Team,
        models.ChannelAccount,
        models.Contact,
        models.Tag,
        models.Attachment,
        models.Conversation,
        models.Template,  # a WhatsApp template message (PostMessage.template)
    )
}
_ERRORS: dict[str, type[errors.DomainError]] = {
    cls.__name__: cls
    for cls in (
        errors.Invalid,
        errors.Unauthenticated,
        errors.Forbidden,
        errors.NotFound,
        errors.Conflict,
        errors.TooLarge,
        errors.Unavailable,
        errors.DomainError,
    )
}


def _encode_value(value: Any) -> Any:
    if isinstance(value, models.Record):
        return {"__record__": type(value).__name__, "data": value.to_dict()}
    if isinstance(value, tuple | list):
        return [_encode_value(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _decode_value(value: Any, as_tuple: bool) -> Any:
    if isinstance(value, dict) and "__record__" in value:
        return _RECORDS[value["__record__"]].from_dict(value["data"])
    if isinstance(value, list):
        items = [_decode_value(v, False) for v in value]
        return tuple(items) if as_tuple else items
    return value


def encode_command(command: c.Command) -> dict[str, Any]:
    fields = {f.name: _encode_value(getattr(command, f.name)) for f in dataclasses.fields(command)}
    return {"type": type(command).__name__, "fields": fields}


def decode_command(data: dict[str, Any]) -> c.Command:
    cls = _COMMANDS.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown command {data.get('type')!r}")
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in data["fields"]:
            raw = data["fields"][field.name]
            kwargs[field.name] = _decode_value(raw, as_tuple=True)
    if cls is c.ReportDelivery and "status" in kwargs:
        kwargs["status"] = models.DeliveryStatus(kwargs["status"])
    command: c.Command = cls(**kwargs)
    return command


def encode_reply(reply: c.Reply | errors.DomainError) -> dict[str, Any]:
    if isinstance(reply, errors.DomainError):
        return {
            "error": {"class": type(reply).__name__, "code": reply.code, "message": reply.message}
        }
    return {
        "conversation": reply.conversation.to_dict(),
        "message_ids": reply.message_ids,
        "duplicate": reply.duplicate,
    }


def decode_reply(data: dict[str, Any]) -> c.Reply | errors.DomainError:
    if "error" in data:
        error = data["error"]
        cls = _ERRORS.get(error.get("class"), errors.DomainError)
        return cls(error["message"], code=error["code"])
    return c.Reply(
        conversation=models.Conversation.from_dict(data["conversation"]),
        message_ids=list(data["message_ids"]),
        duplicate=bool(data["duplicate"]),
    )
