"""A WhatsApp account's configuration: which provider, its ids, where its API lives.

Settings (`ChannelAccount.settings`, visible to admins and the web client):
- Cloud API: `provider="cloud"`, `phone_number_id`, `waba_id`, `graph_base_url`
  (default https://graph.facebook.com), `api_version` (default v21.0).
- Twilio: `provider="twilio"`, `account_sid`, `sender` (`whatsapp:+<E.164>`), `base_url`
  (default https://api.twilio.com), `webhook_url` (the public URL Twilio posts to: it is what
  Twilio signs, and it is sent as each message's StatusCallback).

Secrets (`ChannelAccount.secrets`, write-only): Cloud API `access_token`, `app_secret`,
`verify_token`; Twilio `auth_token`.
"""

from __future__ import annotations

import re
from typing import Any

from server.domain.errors import Invalid

CLOUD = "cloud"
TWILIO = "twilio"
DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
DEFAULT_TWILIO_URL = "https://api.twilio.com"

CLOUD_SECRETS: tuple[str, ...] = ("access_token", "app_secret", "verify_token")
TWILIO_SECRETS: tuple[str, ...] = ("auth_token",)

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_NUMERIC_ID = re.compile(r"^[0-9]{1,32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_VERSION = re.compile(r"^v[0-9]{1,3}\.[0-9]{1,2}$")


def normalize_phone(value: str) -> str:
    """A phone number as E.164 (`+` and 7-15 digits), from `+1 (555) 010-0000`, `15550100000`
    or `whatsapp:+15550100000`; `Invalid` otherwise."""
    text = value.strip().removeprefix("whatsapp:")
    digits = re.sub(r"[\s().\-/]", "", text)
    if not digits.startswith("+"):
        digits = "+" + digits
    if not _E164.match(digits):
        raise Invalid(
            f"{value!r} is not a WhatsApp phone number: use the international format, e.g."
            " +4915123456789"
        )
    return digits


def _url(settings: dict[str, Any], name: str, default: str) -> str:
    value = settings.get(name) or default
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise Invalid(f"{name} must be an http(s) URL")
    if len(value) > 2048:
        raise Invalid(f"{name} must be at most 2048 characters")
    return value.rstrip("/")


def _text(settings: dict[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = settings.get(name)
    if not isinstance(value, str) or not pattern.match(value.strip()):
        raise Invalid(f"{name} is required for a WhatsApp account: {what}")
    return value.strip()


def validate(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """Checked settings of a WhatsApp account (defaults filled in); `Invalid` names what is
    missing or wrong. Secrets are checked by name only: their values are never echoed."""
    provider = settings.get("provider")
    out = dict(settings)
    if provider == CLOUD:
        out["phone_number_id"] = _text(
            settings, "phone_number_id", _NUMERIC_ID, "the numeric id Meta shows for the number"
        )
        out["waba_id"] = _text(
            settings, "waba_id", _NUMERIC_ID, "the numeric WhatsApp Business Account id"
        )
        out["graph_base_url"] = _url(settings, "graph_base_url", DEFAULT_GRAPH_URL)
        version = settings.get("api_version") or DEFAULT_API_VERSION
        if not isinstance(version, str) or not _VERSION.match(version):
            raise Invalid("api_version must look like v21.0")
        out["api_version"] = version
        required = CLOUD_SECRETS
    elif provider == TWILIO:
        out["account_sid"] = _text(
            settings, "account_sid", _ACCOUNT_SID, "AC followed by 32 hexadecimal characters"
        )
        sender = settings.get("sender")
        if not isinstance(sender, str) or not sender.startswith("whatsapp:"):
            raise Invalid("sender is required for a Twilio account: whatsapp:+<number>")
        out["sender"] = "whatsapp:" + normalize_phone(sender)
        out["base_url"] = _url(settings, "base_url", DEFAULT_TWILIO_URL)
        if not settings.get("webhook_url"):
            raise Invalid(
                "webhook_url is required for a Twilio account: the public URL of"
                " /channels/twilio/<account id>/webhook (Twilio signs it)"
            )
        out["webhook_url"] = _url(settings, "webhook_url", "")
        required = TWILIO_SECRETS
    else:
        raise Invalid("settings.provider must be cloud (Meta Cloud API) or twilio")
    missing = [name for name in required if not secrets.get(name)]
    if missing:
        raise Invalid(f"A WhatsApp {provider} account needs the secrets: {', '.join(missing)}")
    return out
