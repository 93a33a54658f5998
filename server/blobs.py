"""Uploaded files (message attachments): bytes plus a small JSON meta document per id.

`FileBlobStore` keeps `<root>/<id>` and `<root>/<id>.json`. Every file operation runs in a worker
thread so the event loop never blocks on the disk. Ids are generated here and checked on the way
back in, so a request can never name a path outside the root.
"""

from __future__ import annotations

import asyncio
import os
import re
import unicodedata
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote

import orjson

from server.domain.models import Attachment, new_id

_ID = re.compile(r"^att_[0-9a-f]{12,}$")
_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,@]+")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
DEFAULT_TYPE = "application/octet-stream"


def upload_url(attachment_id: str) -> str:
    return f"/api/uploads/{attachment_id}"


def valid_id(attachment_id: str) -> bool:
    return bool(_ID.match(attachment_id))


def sanitize_filename(name: str | None) -> str:
    """A display- and header-safe file name: no directories, no control characters."""
    # Some clients (aiohttp's FormData among them) percent-encode the multipart filename.
    text = unicodedata.normalize("NFC", unquote(name or "", errors="replace"))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _UNSAFE.sub("_", text).strip(" .")
    if not text:
        return "file"
    if len(text) > 200:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: 200 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 16 else text[:200]
    return text


def sanitize_content_type(value: str | None) -> str:
    """The bare media type (parameters dropped), lower-cased; octet-stream when unusable."""
    bare = (value or "").split(";", 1)[0].strip().lower()
    return bare if _CONTENT_TYPE.match(bare) else DEFAULT_TYPE


class BlobStore(Protocol):
    async def put(self, data: bytes, filename: str, content_type: str) -> Attachment: ...

    async def get_meta(self, attachment_id: str) -> Attachment | None: ...

    async def open(self, attachment_id: str) -> tuple[Attachment, bytes] | None: ...


class FileBlobStore:
    """Blobs as files under `root`; the directory is created on first write."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    async def put(self, data: bytes, filename: str, content_type: str) -> Attachment:
        attachment_id = new_id("att")
        attachment = Attachment(
            id=attachment_id,
            filename=sanitize_filename(filename),
            content_type=sanitize_content_type(content_type),
            size=len(data),
            url=upload_url(attachment_id),
        )
        await asyncio.to_thread(self._write, attachment, data)
        return attachment

    async def get_meta(self, attachment_id: str) -> Attachment | None:
        if not valid_id(attachment_id):
            return None
        return await asyncio.to_thread(self._read_meta, attachment_id)

    async def open(self, attachment_id: str) -> tuple[Attachment, bytes] | None:
        if not valid_id(attachment_id):
            return None
        return await asyncio.to_thread(self._read, attachment_id)

    # blocking helpers, run in a worker thread -------------------------------------------
    def _write(self, attachment: Attachment, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        blob = self.root / attachment.id
        meta = self.root / f"{attachment.id}.json"
        # Bytes first, meta last (each via a temp file + rename): a meta file only ever
        # names complete bytes, so a crash mid-write leaves nothing that looks stored.
        for path, payload in ((blob, data), (meta, orjson.dumps(attachment.to_dict()))):
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)

    def _read_meta(self, attachment_id: str) -> Attachment | None:
        try:
            raw = (self.root / f"{attachment_id}.json").read_bytes()
        except FileNotFoundError:
            return None
        return Attachment.from_dict(orjson.loads(raw))

    def _read(self, attachment_id: str) -> tuple[Attachment, bytes] | None:
        attachment = self._read_meta(attachment_id)
        if attachment is None:
            return None
        try:
            data = (self.root / attachment_id).read_bytes()
        except FileNotFoundError:
            return None
        return attachment, data
