"""Record <-> BSON document conversion and search helpers for the MongoDB store.

A record's document is its `to_dict()` normalised through JSON (enums become their string
values, non-string keys become strings: exactly the SQLite body), with `_id` and a few derived
fields beside it. Derived fields start with `_` (no record field does) and are dropped on the
way back. Dictionary keys that MongoDB/FerretDB refuse (FerretDB rejects any key containing
`.` or starting with `$`; BSON keys cannot hold NUL) are percent-escaped, reversibly.
"""

from __future__ import annotations

import re
import secrets
import string
import time
import unicodedata
from typing import Any, TypeVar

import orjson

from server.domain.models import Record
from server.store.sqlite_codec import fix_enums

R = TypeVar("R", bound=Record)

_KEY_UNSAFE = re.compile(r"[%.$\x00]")
_KEY_ESCAPED = re.compile(r"%(25|2E|24|00)")
_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}
_UNESCAPES = {"25": "%", "2E": ".", "24": "$", "00": "\x00"}
# Word characters the way SQLite's FTS5 unicode61 tokenizer sees them: letters and digits.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_REGEX_SPECIAL = frozenset(string.punctuation)


def plain(data: Any) -> Any:
    """JSON-normalised copy of `data` (enums -> values, tuples -> lists, keys -> str)."""
    return orjson.loads(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))


def escape_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (_KEY_UNSAFE.sub(lambda m: _ESCAPES[m.group()], k) if _KEY_UNSAFE.search(k) else k): (
                escape_keys(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [escape_keys(v) for v in value]
    return value


def unescape_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (_KEY_ESCAPED.sub(lambda m: _UNESCAPES[m.group(1)], k) if "%" in k else k): (
                unescape_keys(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [unescape_keys(v) for v in value]
    return value


def body(record: Record) -> dict[str, Any]:
    """The stored form of a record's fields (no `_id`, no derived fields)."""
    out: dict[str, Any] = escape_keys(plain(record.to_dict()))
    return out


def to_doc(record: Record, record_id: str, **derived: Any) -> dict[str, Any]:
    doc = body(record)
    doc["_id"] = record_id
    doc.update(derived)
    return doc


def from_doc(kind: type[R], doc: dict[str, Any]) -> R:
    fields = {k: v for k, v in doc.items() if not k.startswith("_")}
    record = kind.from_dict(unescape_keys(fields))
    fix_enums(record)
    return record


def norm(text: str | None) -> str:
    return (text or "").strip().casefold()


def fold(text: str) -> str:
    """Casefolded, diacritics removed (FTS5 `remove_diacritics 2` equivalent)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str | None) -> list[str]:
    """The distinct search tokens of a message text, for the multikey `_words` index."""
    return sorted(set(_TOKEN.findall(fold(text or ""))))


def query_words(text: str) -> list[str]:
    """The tokens of a search query, in order (the last one matches as a prefix)."""
    return _TOKEN.findall(fold(text))


def regex_literal(text: str) -> str:
    """`text` as a regular expression matching itself, valid for both PCRE (MongoDB) and RE2
    (FerretDB): only ASCII punctuation is escaped (RE2 refuses escapes of other characters)."""
    return "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in text)


def handle_key(key: str, value: str) -> str:
    """One contact handle as a single unambiguous string (FerretDB 1.24 has no `$elemMatch`
    on sub-document fields)."""
    return orjson.dumps([key, value]).decode()


def pair_key(first: str, second: str) -> str:
    return orjson.dumps([first, second]).decode()


def new_token(at: float | None = None) -> str:
    """A write token that sorts by creation time: 13 digits of milliseconds + random hex."""
    millis = int((time.time() if at is None else at) * 1000)
    return f"{millis:013d}{secrets.token_hex(6)}"


def token_floor(at: float) -> str:
    """The smallest token created at `at`: tokens below it are older."""
    return f"{int(at * 1000):013d}"
