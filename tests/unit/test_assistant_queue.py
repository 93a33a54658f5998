"""The assistant never slows intake: when its queue is full an analysis is skipped, counted,
and logged once per hundred skips rather than once per message."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from server.assistant import Assistant
from server.domain import commands as c
from server.domain.analysis import RuleBasedAnalyzer
from server.domain.models import ChannelAccount, ChannelKind, Conversation


async def test_a_full_queue_skips_analyses_and_logs_sparingly() -> None:
    workspace: Any = object()  # never reached: no worker is started
    assistant = Assistant(workspace, RuleBasedAnalyzer(), queue_size=1)
    account = ChannelAccount(id="acc1", kind=ChannelKind.API, name="Shop")
    conversation = Conversation(
        id="cnv1", account_id="acc1", channel=ChannelKind.API, contact_id="ct1"
    )
    with capture_logs() as logs:
        for k in range(250):
            assistant.on_inbound(account, c.Reply(conversation, [f"msg{k}"]))
    assert assistant.skipped == 249  # the first one is queued
    warnings = [e for e in logs if e["event"] == "assistant.queue_full"]
    assert [w["skipped"] for w in warnings] == [1, 101, 201]
