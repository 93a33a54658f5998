"""Uploaded files in MongoDB GridFS, for cluster mode (every node sees every upload).

`GridFsBlobStore(db)` implements `server.blobs.BlobStore` with PyMongo's `AsyncGridFSBucket`
(FerretDB 1.24 serves it: chunks + files collections, multi-chunk files, the bucket's indexes).
The GridFS file `_id` is the attachment id and its `metadata.attachment` is the `Attachment`
record. GridFS writes every chunk before the files document, so a crash mid-upload leaves no
file that looks stored (the same guarantee as `FileBlobStore`'s bytes-then-meta order);
orphaned chunks of such an upload are removed before a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from server.blobs import sanitize_content_type, sanitize_filename, upload_url, valid_id
from server.domain.models import Attachment, new_id

DEFAULT_BUCKET = "attachments"


class GridFsBlobStore:
    """Blobs in the GridFS bucket `bucket` of `db` (an `AsyncDatabase`)."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        bucket: str = DEFAULT_BUCKET,
        *,
        chunk_size: int = 255 * 1024,
        attempts: int = 3,
    ) -> None:
        self._db = db
        self._bucket_name = bucket
        self._bucket = AsyncGridFSBucket(db, bucket_name=bucket, chunk_size_bytes=chunk_size)
        self._attempts = max(1, attempts)

    async def put(self, data: bytes, filename: str, content_type: str) -> Attachment:
        attachment_id = new_id("att")
        attachment = Attachment(
            id=attachment_id,
            filename=sanitize_filename(filename),
            content_type=sanitize_content_type(content_type),
            size=len(data),
            url=upload_url(attachment_id),
        )
        metadata = {"attachment": attachment.to_dict(), "contentType": attachment.content_type}
        for attempt in range(1, self._attempts + 1):
            try:
                await self._bucket.upload_from_stream_with_id(
                    attachment_id, attachment.filename, data, metadata=metadata
                )
                return attachment
            except AutoReconnect as exc:
                if isinstance(exc, ServerSelectionTimeoutError) or attempt >= self._attempts:
                    raise
                # The id is ours alone: drop whatever part of the upload landed, then retry.
                with contextlib.suppress(NoFile, AutoReconnect):
                    await self._bucket.delete(attachment_id)
                await self._db[f"{self._bucket_name}.chunks"].delete_many(
                    {"files_id": attachment_id}
                )
                await asyncio.sleep(0.05 * 4**attempt)
        raise AssertionError("unreachable")

    async def get_meta(self, attachment_id: str) -> Attachment | None:
        if not valid_id(attachment_id):
            return None
        doc = await self._db[f"{self._bucket_name}.files"].find_one(
            {"_id": attachment_id}, {"metadata": 1}
        )
        if doc is None:
            return None
        meta = (doc.get("metadata") or {}).get("attachment")
        return Attachment.from_dict(meta) if isinstance(meta, dict) else None

    async def open(self, attachment_id: str) -> tuple[Attachment, bytes] | None:
        attachment = await self.get_meta(attachment_id)
        if attachment is None:
            return None
        try:
            stream = await self._bucket.open_download_stream(attachment_id)
        except NoFile:
            return None
        data = await stream.read()
        return attachment, data

    async def delete(self, attachment_id: str) -> bool:
        """Remove a file (not part of `BlobStore`; for retention jobs)."""
        if not valid_id(attachment_id):
            return False
        try:
            await self._bucket.delete(attachment_id)
        except NoFile:
            return False
        return True


__all__ = ["DEFAULT_BUCKET", "GridFsBlobStore"]
