"""Outbound MIME: an agent's reply as a proper email. Pure code, no I/O.

multipart/mixed( multipart/alternative(text/plain, text/html), attachments... ), with From
carrying the sender name, a Message-ID we choose (derived from our message id, so a retried
send repeats it and the receiver's client shows one message), In-Reply-To and References for
threading, and the account's HTML signature appended to both bodies.
"""

from __future__ import annotations

import html as html_lib
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from server.transports.email.config import EmailConfig

SIGNATURE_SEPARATOR = "-- "  # RFC 3676: clients fold what follows


@dataclass(frozen=True, slots=True)
class OutgoingFile:
    filename: str
    content_type: str
    data: bytes


def one_line(value: str, limit: int = 400) -> str:
    """A header-safe value: no line breaks or control characters."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())[:limit]


def reply_subject(subject: str, *, is_reply: bool) -> str:
    subject = one_line(subject) or "(no subject)"
    if is_reply and not subject.lower().startswith(("re:", "re :", "aw:", "sv:")):
        return f"Re: {subject}"
    return subject


def message_id_for(message_id: str, domain: str) -> str:
    """Our Message-ID (without brackets) for a stored message id."""
    return f"{message_id}@{domain}"


def text_to_html(text: str) -> str:
    paragraphs = html_lib.escape(text).split("\n\n")
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip())


def build_email(
    config: EmailConfig,
    *,
    to_address: str,
    to_name: str,
    subject: str,
    message_id: str,
    text: str,
    html: str = "",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    files: list[OutgoingFile] | None = None,
    auto_reply: bool = False,
) -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(one_line(config.sender_name, 200), addr_spec=config.address)
    message["To"] = Address(one_line(to_name, 200), addr_spec=to_address)
    message["Subject"] = one_line(subject, 900)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        message["References"] = " ".join(f"<{ref}>" for ref in references)
    if auto_reply:
        message["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer
    body_html = html or text_to_html(text)
    body_text = text
    if config.signature_html:
        body_text = f"{text}\n\n{SIGNATURE_SEPARATOR}\n{config.signature_text}"
        body_html = f'{body_html}<div class="signature">{config.signature_html}</div>'
    message.set_content(body_text)
    message.add_alternative(f"<!DOCTYPE html><html><body>{body_html}</body></html>", subtype="html")
    for item in files or []:
        maintype, _, subtype = item.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            item.data, maintype=maintype, subtype=subtype, filename=item.filename
        )
    return message
