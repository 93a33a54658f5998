"""An email (IMAP/SMTP) account's configuration: validation of the admin's settings and the
typed view the intake and delivery read.

Settings (non-secret, `ChannelAccount.settings`):
    address, sender_name, imap_host, imap_port, imap_security, smtp_host, smtp_port,
    smtp_security, username, signature_html
Secret (`ChannelAccount.secrets`): password. Never logged, never returned by the API (accounts
list secret names only), scrubbed from every reason a server gives back (`scrub`).

Security modes: IMAP "tls" (implicit, 993) or "none" (plain; local tests). aioimaplib has no
STARTTLS, so IMAP "starttls" is refused with a clear error. SMTP "tls" (implicit, 465),
"starttls" (587) or "none" (plain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.domain.errors import Invalid
from server.domain.html import html_to_text, sanitize_html
from server.domain.models import ChannelAccount

IMAP_SECURITY = ("tls", "none")
SMTP_SECURITY = ("tls", "starttls", "none")
DEFAULT_IMAP_PORT = {"tls": 993, "none": 143}
DEFAULT_SMTP_PORT = {"tls": 465, "starttls": 587, "none": 25}
MAX_SIGNATURE = 16_384
PASSWORD = "password"
_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)
_HOST_IP = re.compile(r"^\[?[0-9a-fA-F:.]+\]?$")
_HEADER_UNSAFE = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True, slots=True)
class EmailConfig:
    address: str
    sender_name: str
    imap_host: str
    imap_port: int
    imap_security: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    username: str
    password: str
    signature_html: str = ""

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1]

    @property
    def signature_text(self) -> str:
        return html_to_text(self.signature_html) if self.signature_html else ""

    @classmethod
    def from_account(cls, account: ChannelAccount) -> EmailConfig:
        s = account.settings
        return cls(
            address=str(s.get("address", "")),
            sender_name=str(s.get("sender_name", "")),
            imap_host=str(s.get("imap_host", "")),
            imap_port=int(s.get("imap_port") or 0),
            imap_security=str(s.get("imap_security", "tls")),
            smtp_host=str(s.get("smtp_host", "")),
            smtp_port=int(s.get("smtp_port") or 0),
            smtp_security=str(s.get("smtp_security", "tls")),
            username=str(s.get("username") or s.get("address", "")),
            password=account.secrets.get(PASSWORD, ""),
            signature_html=str(s.get("signature_html", "")),
        )

    def fingerprint(self) -> tuple[Any, ...]:
        """What the IMAP session depends on: a change means reconnecting."""
        return (
            self.address,
            self.imap_host,
            self.imap_port,
            self.imap_security,
            self.username,
            self.password,
        )


def scrub(text: str, *secrets: str) -> str:
    """`text` with every non-empty secret replaced: for reasons servers give back."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _text(settings: dict[str, Any], name: str, *, required: bool, max_len: int = 254) -> str:
    value = settings.get(name)
    if value is None or value == "":
        if required:
            raise Invalid(f"settings.{name} is required for an email account")
        return ""
    if not isinstance(value, str):
        raise Invalid(f"settings.{name} must be a string")
    value = value.strip()
    if len(value) > max_len or _HEADER_UNSAFE.search(value):
        raise Invalid(f"settings.{name} must be one line of at most {max_len} characters")
    return value


def _host(settings: dict[str, Any], name: str) -> str:
    host = _text(settings, name, required=True)
    if not (_HOST_NAME.match(host) or _HOST_IP.match(host)):
        raise Invalid(f"settings.{name} must be a host name or IP address, e.g. imap.example.com")
    return host


def _choice(settings: dict[str, Any], name: str, choices: tuple[str, ...], hint: str) -> str:
    value = settings.get(name, choices[0])
    if value not in choices:
        raise Invalid(f"settings.{name} must be one of {', '.join(choices)}{hint}")
    return str(value)


def _port(settings: dict[str, Any], name: str, default: int) -> int:
    value = settings.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise Invalid(f"settings.{name} must be a port number between 1 and 65535")
    return value


def validate_settings(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The checked, normalised settings of an email account (raises `Invalid` with the field's
    name). Unrelated keys (assignment rules, business hours...) pass through untouched."""
    address = _text(settings, "address", required=True).lower()
    if not _EMAIL.match(address):
        raise Invalid(f"settings.address {address!r} is not a valid email address")
    imap_security = _choice(
        settings,
        "imap_security",
        IMAP_SECURITY,
        " (IMAP STARTTLS is not supported: use implicit TLS, usually port 993)",
    )
    smtp_security = _choice(settings, "smtp_security", SMTP_SECURITY, "")
    signature = settings.get("signature_html") or ""
    if not isinstance(signature, str) or len(signature) > MAX_SIGNATURE:
        raise Invalid(f"settings.signature_html must be HTML of at most {MAX_SIGNATURE} characters")
    if not secrets.get(PASSWORD):
        raise Invalid("secrets.password is required for an email account")
    return {
        **settings,
        "address": address,
        "sender_name": _text(settings, "sender_name", required=False, max_len=200),
        "imap_host": _host(settings, "imap_host"),
        "imap_port": _port(settings, "imap_port", DEFAULT_IMAP_PORT[imap_security]),
        "imap_security": imap_security,
        "smtp_host": _host(settings, "smtp_host"),
        "smtp_port": _port(settings, "smtp_port", DEFAULT_SMTP_PORT[smtp_security]),
        "smtp_security": smtp_security,
        "username": _text(settings, "username", required=False) or address,
        "signature_html": sanitize_html(signature) if signature.strip() else "",
    }
