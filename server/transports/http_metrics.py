"""`GET /api/metrics`: the Performance Metrics dashboard's figures (docs/api.md, "Metrics").

The figures are computed by `server.domain.metrics.MetricsBuilder` from the stored messages,
read page by page (`PAGE_SIZE` rows at a time, at most `MAX_ROWS` per request), so a long range
costs time, not memory: the builder keeps one small state per conversation.
"""

from __future__ import annotations

import math
import time

from aiohttp import web

from server.domain.errors import Invalid
from server.domain.metrics import DAY, LOOKBACK, MAX_RANGE, MetricsBuilder, known_zone
from server.domain.models import ChannelAccount
from server.transports.http_common import context, current_user, json_response

PAGE_SIZE = 2000
# Beyond this many messages in one request the report says `"truncated": true`.
MAX_ROWS = 1_000_000
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/metrics", get_metrics)


def _instant(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise Invalid(f"{name} must be a time in seconds since the epoch") from None
    if not math.isfinite(value) or not 0 <= value < 2**40:
        raise Invalid(f"{name} must be a time in seconds since the epoch")
    return value


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise Invalid(f"{name} must be true or false")


async def get_metrics(request: web.Request) -> web.Response:
    """Performance metrics: volumes, first-response and resolution times, per agent and account.

    `since` / `until` are epoch seconds (default: the last 7 days, at most 366 days);
    `account_id` narrows to one account you may see; `business_hours=true` counts durations
    only inside each account's business hours. Days are in your profile's time zone."""
    user = await current_user(request)
    workspace = context(request).workspace
    user = workspace.known_user(user)
    until = _instant(request, "until", time.time())
    since = _instant(request, "since", until - 7 * DAY)
    if since >= until:
        raise Invalid("since must be before until")
    if until - since > MAX_RANGE:
        raise Invalid("The range can be at most 366 days")
    business_hours = _flag(request, "business_hours")
    account_id = (request.query.get("account_id") or "").strip()
    accounts: list[ChannelAccount] = (
        [workspace.viewable_account(user, account_id)]
        if account_id
        else workspace.visible_accounts(user)
    )
    time_zone = user.time_zone if known_zone(user.time_zone) else "UTC"
    builder = MetricsBuilder(
        since=since,
        until=until,
        account_names={a.id: a.name for a in accounts},
        hours={a.id: a.settings.get("business_hours") or None for a in accounts},
        business_hours=business_hours,
        users={u.id: u.name for u in workspace.users()},
        time_zone=time_zone,
    )
    ids = [a.id for a in accounts]
    store = workspace.store
    read = 0
    after = None
    while read < MAX_ROWS:
        page = await store.metric_messages(
            ids, since - LOOKBACK, until, after=after, limit=min(PAGE_SIZE, MAX_ROWS - read)
        )
        builder.add_messages(page)
        read += len(page)
        if len(page) < PAGE_SIZE:
            break
        after = page[-1].key()
    else:
        builder.truncated = True
    created_after = None
    while True:
        created = await store.conversations_created(ids, since, until, after=created_after)
        builder.add_conversations(created)
        if len(created) < PAGE_SIZE:
            break
        last = created[-1]
        created_after = (last.account_id, last.created_at, last.id)
    return json_response(builder.result())
