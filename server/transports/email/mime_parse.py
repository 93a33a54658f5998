"""Inbound MIME: raw RFC 5322 bytes -> the parts a conversation needs. Pure code, no I/O.

Hostile or broken mail never raises anything but `MimeError` (with a reason fit for a log line),
and most damage is contained instead: an unknown charset is decoded as UTF-8 with replacement
characters, an oversized attachment is left out with a line in the text saying so, parts nested
deeper than `MAX_DEPTH` are skipped, a missing Message-ID gets a stable hash of the raw bytes.
Everything left out is listed in `ParsedEmail.problems` for the intake's log line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from server.domain.html import html_to_text

MAX_DEPTH = 8  # multipart nesting below the top level
MAX_ATTACHMENTS = 30
MAX_ATTACHMENT_BYTES = 25 * 1_048_576
MAX_TEXT = 60_000  # characters; the conversation refuses more than 64 KiB of text
MAX_HTML = 512 * 1024
MAX_SUBJECT = 512
MAX_REFERENCES = 30
_MSGID = re.compile(r"<([^<>\s]{1,250})>")


class MimeError(ValueError):
    """The message cannot be turned into a customer's message (the reason says why)."""


@dataclass(frozen=True, slots=True)
class RawAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class ParsedEmail:
    message_id: str  # without angle brackets; a stable hash when the header is missing
    from_address: str
    from_name: str
    subject: str = ""
    text: str = ""
    html: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    attachments: list[RawAttachment] = field(default_factory=list)
    auto_submitted: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """Ids this message answers, nearest first: In-Reply-To, then References newest first."""
        ids = [*self.in_reply_to, *reversed(self.references)]
        return list(dict.fromkeys(ids))[:MAX_REFERENCES]


def message_ids(value: str) -> list[str]:
    """The `<id>` tokens of a Message-ID / In-Reply-To / References header, brackets removed."""
    return _MSGID.findall(value or "")


def clean(text: str) -> str:
    """Valid Unicode: the parser leaves undecodable bytes as lone surrogates, which no JSON
    encoder or store accepts; they become U+FFFD like any other broken byte."""
    try:
        text.encode("utf-8")
        return text.replace("\x00", "")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", errors="surrogateescape")
        return raw.decode("utf-8", errors="replace").replace("\x00", "")


def parse_email(raw: bytes, *, max_attachment: int = MAX_ATTACHMENT_BYTES) -> ParsedEmail:
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except (RecursionError, MemoryError) as exc:
        raise MimeError(f"the message cannot be parsed ({type(exc).__name__})") from None
    except Exception as exc:  # the stdlib parser is lenient; anything else is a bug there
        raise MimeError(f"the message cannot be parsed ({type(exc).__name__}: {exc})") from None
    assert isinstance(message, EmailMessage)
    problems: list[str] = []
    address, name = _sender(message)
    if not address:
        raise MimeError("the message has no usable From address")
    ids = [clean(i) for i in message_ids(_header(message, "Message-ID", problems))]
    if ids:
        message_id = ids[0]
    else:
        message_id = "sha256-" + hashlib.sha256(raw).hexdigest()[:40]
        problems.append("no Message-ID header: using a hash of the message")
    parsed = ParsedEmail(
        message_id=message_id,
        from_address=address,
        from_name=name,
        subject=" ".join(_header(message, "Subject", problems).split())[:MAX_SUBJECT],
        in_reply_to=message_ids(_header(message, "In-Reply-To", problems))[:MAX_REFERENCES],
        references=message_ids(_header(message, "References", problems))[-MAX_REFERENCES:],
        auto_submitted=_header(message, "Auto-Submitted", problems).strip().lower()
        not in ("", "no"),
        problems=problems,
    )
    _body(message, parsed, max_attachment)
    parsed.from_name, parsed.subject = clean(parsed.from_name), clean(parsed.subject)
    parsed.text, parsed.html = clean(parsed.text), clean(parsed.html)
    parsed.attachments = [
        RawAttachment(clean(a.filename), a.content_type, a.data) for a in parsed.attachments
    ]
    for defect in message.defects[:5]:
        problems.append(f"defect: {type(defect).__name__}")
    return parsed


def _header(message: Message, name: str, problems: list[str]) -> str:
    try:
        value = message.get(name)
        return str(value) if value is not None else ""
    except Exception as exc:  # a malformed encoded word or address list
        problems.append(f"unreadable {name} header ({type(exc).__name__})")
        raw = message.get_all(name, failobj=[])
        return str(raw[0]) if raw else ""


def _sender(message: EmailMessage) -> tuple[str, str]:
    try:
        header = message.get("From")
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        if addresses:
            first = addresses[0]
            return first.addr_spec.strip().lower(), first.display_name.strip()
    except Exception:  # fall back to the lenient parser on the raw header
        pass
    raw = message.get_all("From", failobj=[])
    if not raw:
        return "", ""
    pairs = getaddresses([str(raw[0])]) or [parseaddr(str(raw[0]))]
    name, addr = pairs[0]
    addr = addr.strip().lower()
    return (addr, name.strip()) if "@" in addr and len(addr) <= 254 else ("", "")


def _decode_text(part: Message, problems: list[str]) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, AssertionError, ValueError) as exc:
        problems.append(f"charset {part.get_content_charset()!r}: {type(exc).__name__}")
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return data.decode("utf-8", errors="replace")


def _filename(part: Message) -> str:
    try:
        return part.get_filename() or ""
    except Exception:
        return ""


def _body(message: EmailMessage, parsed: ParsedEmail, max_attachment: int) -> None:
    problems = parsed.problems
    try:
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
    except Exception as exc:
        problems.append(f"no readable body ({type(exc).__name__})")
        plain = html = None
    texts: list[str] = []
    if plain is not None:
        texts.append(_decode_text(plain, problems))
    if html is not None:
        markup = _decode_text(html, problems)
        if len(markup) > MAX_HTML:
            problems.append(f"HTML body of {len(markup)} characters: kept as text only")
            if plain is None:
                texts.append(html_to_text(markup[:MAX_HTML]))
        else:
            parsed.html = markup
    notes: list[str] = []
    body_parts = {id(p) for p in (plain, html) if p is not None}
    _walk(message, 0, body_parts, parsed, texts, notes, max_attachment)
    text = "\n\n".join(t.strip("\r\n") for t in texts if t.strip())
    if len(text) > MAX_TEXT:
        problems.append(f"text of {len(text)} characters cut to {MAX_TEXT}")
        text = text[:MAX_TEXT] + "\n[...]"
        notes.append("The rest of the text was too long to import.")
    if notes:
        text = (text + "\n\n" if text else "") + "\n".join(f"[{n}]" for n in notes)
    parsed.text = text


def _walk(
    part: Message,
    depth: int,
    body_parts: set[int],
    parsed: ParsedEmail,
    texts: list[str],
    notes: list[str],
    max_attachment: int,
) -> None:
    if part.is_multipart():
        if depth >= MAX_DEPTH:
            parsed.problems.append(f"parts nested deeper than {MAX_DEPTH} levels skipped")
            notes.append("Some parts were nested too deeply to import.")
            return
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                _walk(sub, depth + 1, body_parts, parsed, texts, notes, max_attachment)
        return
    if id(part) in body_parts:
        return
    content_type = part.get_content_type()
    filename = _filename(part)
    disposition = part.get_content_disposition()
    if content_type == "text/plain" and not filename and disposition != "attachment":
        texts.append(_decode_text(part, parsed.problems))  # a second inline text part
        return
    if content_type == "text/html" and not filename and disposition != "attachment":
        return  # an alternative of a body already taken
    if content_type == "message/rfc822":
        inner = part.get_payload()
        try:
            first = inner[0] if isinstance(inner, list) and inner else None
            data = first.as_bytes() if isinstance(first, Message) else b""
        except Exception:
            data = b""
        filename = filename or "message.eml"
    else:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
    name = filename or f"attachment-{len(parsed.attachments) + 1}"
    if len(parsed.attachments) >= MAX_ATTACHMENTS:
        parsed.problems.append(f"attachment {name!r} over the {MAX_ATTACHMENTS} limit skipped")
        notes.append(f"Attachment {name} was not imported (too many attachments).")
        return
    if len(data) > max_attachment:
        parsed.problems.append(f"attachment {name!r} of {len(data)} bytes over the limit")
        notes.append(
            f"Attachment {name} ({len(data) // 1024} KB) was too large to import "
            f"(limit {max_attachment // 1_048_576} MB)."
        )
        return
    parsed.attachments.append(RawAttachment(name, content_type, data))
