"""HTTP plumbing both providers share: error classification and bounded downloads."""

from __future__ import annotations

import httpx

from server.transports.base import DeliveryError

MAX_MEDIA_BYTES = 25 * 1_048_576  # what the inbox accepts as an upload; WhatsApp media is 16 MB


class MediaError(Exception):
    """A media file could not be fetched. `retryable`: the provider may redeliver later."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def delivery_error(response: httpx.Response, reason: str) -> DeliveryError:
    """429 and 5xx are worth retrying (after Retry-After when given); other refusals are final."""
    retryable = response.status_code == 429 or response.status_code >= 500
    return DeliveryError(
        reason[:500],
        retryable=retryable,
        retry_after=retry_after(response.headers.get("Retry-After")) if retryable else None,
    )


async def fetch_bounded(
    client: httpx.AsyncClient,
    url: str,
    *,
    limit: int,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[bytes, str]:
    """GET `url` reading at most `limit` bytes; the body and its content type."""
    try:
        async with client.stream(
            "GET", url, headers=headers, auth=auth, follow_redirects=True
        ) as response:
            if response.status_code >= 400:
                raise MediaError(
                    f"media download answered {response.status_code}",
                    retryable=response.status_code == 429 or response.status_code >= 500,
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise MediaError(f"media is larger than {limit // 1_048_576} MB", retryable=False)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise MediaError(
                        f"media is larger than {limit // 1_048_576} MB", retryable=False
                    )
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("Content-Type", "")
    except httpx.HTTPError as exc:
        raise MediaError(f"media unreachable: {type(exc).__name__}", retryable=True) from exc
