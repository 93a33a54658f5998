"""The inbound side: customers' messages posted through the intake paths (loadgen/intake.py: the
API channel, signed WhatsApp Cloud API or Twilio webhooks) at a fixed (open-loop) rate."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import aiohttp

from loadgen.intake import Intakes
from loadgen.stats import Histogram, HistogramSet


class Sender:
    """Posts one message per schedule slot through `intakes` (taken in turn by message id),
    never waiting for answers before the next send (open loop); at most `max_inflight`
    requests are outstanding."""

    def __init__(self, intakes: Intakes, max_inflight: int = 256) -> None:
        self.intakes = intakes
        self.max_inflight = max_inflight
        self.next_id = 1
        self.accepted: list[list[Any]] = []  # [id, send time, phase]
        self.status: collections.Counter[str] = collections.Counter()
        self.status_by_phase: dict[str, collections.Counter[str]] = {}
        self.status_by_intake: dict[str, collections.Counter[str]] = {}
        self.http_ms = HistogramSet()  # by phase: request -> answer
        self.lag_ms = Histogram()  # how late the generator sent vs its schedule
        self.skipped = 0  # schedule slots dropped because max_inflight were outstanding
        self.sent = 0
        self.error_samples: list[str] = []  # the first few refusals, status and body
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Sender:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_inflight),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        return self

    async def __aexit__(self, *_: Any) -> None:
        if self._session is not None:
            await self._session.close()

    def errors(self, phase: str | None = None) -> int:
        empty: collections.Counter[str] = collections.Counter()
        status = self.status if phase is None else self.status_by_phase.get(phase, empty)
        return sum(n for key, n in status.items() if key not in ("200", "201"))

    async def _post(self, ident: int, phase: str) -> None:
        assert self._session is not None
        intake = self.intakes.pick(ident)
        sent = time.time()
        body, headers = intake.request(ident, f"lt:{ident}:{sent:.6f}:{phase} load-test message")
        try:
            async with self._session.post(intake.endpoint, data=body, headers=headers) as response:
                body_text = await response.read()
                code = str(response.status)
                if response.status >= 300 and len(self.error_samples) < 5:
                    self.error_samples.append(
                        f"{intake.name} {code} {body_text[:300].decode(errors='replace')}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            code = type(exc).__name__
        self.status[code] += 1
        self.status_by_phase.setdefault(phase, collections.Counter())[code] += 1
        self.status_by_intake.setdefault(intake.name, collections.Counter())[code] += 1
        self.http_ms.add(phase, (time.time() - sent) * 1000.0)
        if code in ("200", "201"):
            self.accepted.append([ident, sent, phase])

    def errors_by_intake(self) -> dict[str, int]:
        return {
            name: sum(n for key, n in status.items() if key not in ("200", "201"))
            for name, status in self.status_by_intake.items()
        }

    async def run(
        self, rate: float, duration: float, phase: str, *, block: bool = False
    ) -> dict[str, Any]:
        """Send `rate * duration` messages spread evenly over `duration` seconds.

        With `max_inflight` requests outstanding a slot is skipped (open loop), or with
        `block` the sender waits for an answer first (every message is sent, later)."""
        count = max(0, round(rate * duration))
        inflight: set[asyncio.Task[None]] = set()
        started = time.time()
        skipped_before, sent_before = self.skipped, self.sent
        for k in range(count):
            scheduled = started + k / rate
            delay = scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.lag_ms.add(max(0.0, time.time() - scheduled) * 1000.0)
            if len(inflight) >= self.max_inflight:
                if not block:
                    self.skipped += 1
                    continue
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED, timeout=35)
            ident = self.next_id
            self.next_id += 1
            self.sent += 1
            task = asyncio.create_task(self._post(ident, phase))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        send_seconds = time.time() - started
        if inflight:
            await asyncio.wait(inflight, timeout=35)
        return {
            "phase": phase,
            "offered_rate": rate,
            "seconds": round(send_seconds, 3),
            "sent": self.sent - sent_before,
            "skipped": self.skipped - skipped_before,
            "achieved_rate": round((self.sent - sent_before) / send_seconds, 2)
            if send_seconds
            else 0.0,
            "started": started,
        }
