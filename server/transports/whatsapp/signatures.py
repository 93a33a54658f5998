"""Webhook signatures, checked in constant time.

- Meta: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw request body keyed with
  the app secret (the raw bytes, never re-serialized JSON).
- Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 keyed with the auth token over the full
  URL Twilio called followed by every POST parameter's name and value, sorted by name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

META_HEADER = "X-Hub-Signature-256"
TWILIO_HEADER = "X-Twilio-Signature"


def meta_signature(app_secret: str, body: bytes) -> str:
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def meta_valid(app_secret: str, body: bytes, header: str) -> bool:
    if not app_secret or not header:
        return False
    expected = meta_signature(app_secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], header: str) -> bool:
    if not auth_token or not header:
        return False
    expected = twilio_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), header.strip().encode())
