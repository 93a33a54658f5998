"""One scenario against one target: connect the agents, drive the traffic, collect, summarize."""

from __future__ import annotations

import asyncio
import collections
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from loadgen.intake import Intakes
from loadgen.monitor import Monitor
from loadgen.nodepool import NodeWorkerPool
from loadgen.pool import WorkerPool
from loadgen.sender import Sender
from loadgen.stats import Histogram, HistogramSet, cpu_percent
from loadgen.target import Target

SCENARIOS = ("steady", "ramp", "idle", "conversations", "reconnect-storm", "cluster")
BASELINE_SCENARIOS = ("steady", "ramp", "idle", "cluster")  # the others need the real server


@dataclass
class Options:
    scenario: str
    agents: int
    users: int
    procs: int
    rate: float
    duration: float
    reply_rate: float = 0.0
    senders: int = 1000
    grace: float = 10.0
    ramp_rates: list[float] = field(default_factory=lambda: [25, 50, 100, 200, 400, 800])
    step_duration: float = 15.0
    p99_limit_ms: float = 250.0
    conversations: int = 10_000
    passivation_wait: float = 150.0
    trim_hold: float = 35.0
    connect_concurrency: int = 50
    storm_concurrency: int = 10_000
    settle: float = 2.0
    max_inflight: int = 256
    prefix: str = "lt"
    max_lifetime: float = 3600.0
    priority: int = 0
    client: str = "python"  # the agents' Socket.IO client: python (worker.py) or node (agent.js)


async def readyz(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.get(f"{url}/readyz")
            data: dict[str, Any] = response.json()
            return data
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": type(exc).__name__}


class Run:
    """A scenario run against one target. `execute()` returns the target's result section."""

    def __init__(self, target: Target, opts: Options, intakes: Intakes) -> None:
        self.target = target
        self.opts = opts
        self.intakes = intakes
        self.monitor = Monitor()
        self.pool: WorkerPool | NodeWorkerPool | None = None
        self.sender: Sender | None = None
        self.phases: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.window = (0.0, 0.0)

    # ------------------------------------------------------------------ helpers
    def _procs(self) -> int:
        return max(1, min(self.opts.procs, self.opts.agents)) if self.opts.agents else 0

    def _worker_configs(self) -> list[dict[str, Any]]:
        tokens = self.target.tokens or ["baseline"]
        procs = self._procs()
        configs = []
        for index in range(procs):
            share = [tokens[i % len(tokens)] for i in range(index, self.opts.agents, procs)]
            configs.append(
                {
                    "index": index,
                    "url": self.target.url,
                    "tokens": share,
                    "prefix": f"{self.opts.prefix}-{self.target.name}",
                    "connect_concurrency": max(1, self.opts.connect_concurrency // procs),
                    "max_lifetime": self.opts.max_lifetime,
                    "priority": self.opts.priority,
                }
            )
        return configs

    async def _send(
        self, rate: float, duration: float, phase: str, *, block: bool = False
    ) -> dict[str, Any]:
        assert self.sender is not None
        result = await self.sender.run(rate, duration, phase, block=block)
        result["accepted"] = sum(1 for a in self.sender.accepted if a[2] == phase)
        result["http_status"] = dict(self.sender.status_by_phase.get(phase, {}))
        result["http_ms"] = self.sender.http_ms.get(phase).summary()
        self.phases.append(result)
        return result

    async def _replies(self, duration: float, phase: str) -> None:
        if self.opts.reply_rate <= 0 or self.pool is None:
            return
        procs = len(self.pool.processes)
        message = {
            "cmd": "replies",
            "rate": self.opts.reply_rate / procs,
            "duration": duration,
            "phase": phase,
        }
        await self.pool.ask_all(message, timeout=30)

    # ------------------------------------------------------------------ scenarios
    async def steady(self) -> None:
        start = time.time()
        await self._replies(self.opts.duration, "steady")
        await self._send(self.opts.rate, self.opts.duration, "steady")
        self.window = (start, time.time())

    cluster = steady

    async def ramp(self) -> None:
        assert self.pool is not None
        start = time.time()
        steps: list[dict[str, Any]] = []
        for number, rate in enumerate(self.opts.ramp_rates):
            phase = f"r{number}"
            step_start = time.time()
            await self._replies(self.opts.step_duration, phase)
            sent = await self._send(rate, self.opts.step_duration, phase)
            step_end = time.time()
            await asyncio.sleep(min(2.0, self.opts.grace))
            snaps = await self.pool.ask_all({"cmd": "snapshot"}, timeout=60)
            hists = HistogramSet()
            for snap in snaps:
                hists.merge_json(snap["hists"])
            hist = hists.get(f"in:{phase}")
            connected = sum(s["connected"] for s in snaps)
            expected = sent["accepted"] * connected
            errors = sum(n for code, n in sent["http_status"].items() if code not in ("200", "201"))
            step = {
                "phase": phase,
                "offered_rate": rate,
                "achieved_rate": sent["achieved_rate"],
                "sent": sent["sent"],
                "skipped": sent["skipped"],
                "accepted": sent["accepted"],
                "http_errors": errors,
                "http_ms": sent["http_ms"],
                "delivered": hist.count,
                "expected": expected,
                "delivery_ratio": round(hist.count / expected, 4) if expected else None,
                "delivered_per_s": round(hist.count / (step_end - step_start), 1),
                "latency_ms": hist.summary(),
                "server": self.monitor.window("server", step_start, step_end),
                "generator_cpu": self.monitor.windows("gen-", step_start, step_end),
            }
            steps.append(step)
            p99 = hist.percentile(99) if hist.count else float("inf")
            reasons = []
            if p99 > self.opts.p99_limit_ms:
                reasons.append(f"p99 {p99:.0f} ms > {self.opts.p99_limit_ms:.0f} ms")
            if errors:
                reasons.append(f"{errors} HTTP errors")
            if sent["skipped"]:
                reasons.append(f"generator skipped {sent['skipped']} sends (backlog)")
            if expected and hist.count < 0.99 * expected:
                reasons.append(f"only {hist.count}/{expected} deliveries after 2 s")
            if reasons:
                step["saturated"] = "; ".join(reasons)
                break
        ok_steps = [s for s in steps if "saturated" not in s]
        self.extra["ramp"] = {
            "steps": steps,
            "p99_limit_ms": self.opts.p99_limit_ms,
            "max_sustained_rate": ok_steps[-1]["offered_rate"] if ok_steps else None,
            "saturated_at": steps[-1]["offered_rate"] if "saturated" in steps[-1] else None,
            "reason": steps[-1].get("saturated"),
        }
        self.window = (start, time.time())

    async def idle(self) -> None:
        start = time.time()
        samples = []
        for _ in range(max(1, int(self.opts.duration))):
            await asyncio.sleep(1.0)
            samples.append(self.monitor.rss_mb("server"))
        self.window = (start, time.time())
        self.extra["idle"] = {"hold_seconds": round(time.time() - start, 1), "rss_mb": samples}

    async def conversations(self) -> None:
        assert self.sender is not None
        before = await readyz(self.target.url)
        rss_before = self.monitor.rss_mb("server")
        start = time.time()
        count = self.opts.conversations
        # Every conversation must exist: past max_inflight the sender waits instead of skipping.
        await self._send(self.opts.rate, count / self.opts.rate, "conv", block=True)
        end = time.time()
        self.window = (start, end)
        await asyncio.sleep(self.opts.settle)
        after = await readyz(self.target.url)
        rss_after = self.monitor.rss_mb("server")
        baseline_active = int(before.get("active_conversations") or 0)
        trail = []
        waited_from = time.time()
        deadline = waited_from + self.opts.passivation_wait
        while True:
            ready = await readyz(self.target.url)
            active = ready.get("active_conversations")
            trail.append(
                {
                    "t": round(time.time() - end, 1),
                    "active_conversations": active,
                    "rss_mb": self.monitor.rss_mb("server"),
                }
            )
            if isinstance(active, int) and active <= baseline_active:
                break
            if time.time() >= deadline:
                break
            await asyncio.sleep(min(5.0, max(0.1, deadline - time.time())))
        passivated_at = time.time()
        rss_at_passivation = self.monitor.rss_mb("server")
        hold_until = passivated_at + self.opts.trim_hold
        while time.time() < hold_until:
            await asyncio.sleep(min(5.0, max(0.1, hold_until - time.time())))
            ready = await readyz(self.target.url)
            trail.append(
                {
                    "t": round(time.time() - end, 1),
                    "active_conversations": ready.get("active_conversations"),
                    "rss_mb": self.monitor.rss_mb("server"),
                }
            )
        rss_passivated = self.monitor.rss_mb("server")
        grown = (rss_after or 0) - (rss_before or 0)
        accepted = len(self.sender.accepted)
        self.extra["conversations"] = {
            "conversations": count,
            "accepted": accepted,
            "active_before": before.get("active_conversations"),
            "active_after_burst": after.get("active_conversations"),
            "rss_before_mb": rss_before,
            "rss_after_burst_mb": rss_after,
            "rss_growth_mb": round(grown, 2),
            "rss_per_conversation_kb": round(grown * 1024 / accepted, 2) if accepted else None,
            "intake_seconds": round(end - start, 1),
            "intake_per_s": round(accepted / max(1e-9, end - start), 1),
            "passivation_waited_s": round(time.time() - waited_from, 1),
            "active_after_wait": trail[-1]["active_conversations"] if trail else None,
            "rss_at_passivation_mb": rss_at_passivation,
            "trim_hold_s": self.opts.trim_hold,
            "rss_after_passivation_mb": rss_passivated,
            "trail": trail,
        }

    async def reconnect_storm(self) -> None:
        assert self.pool is not None
        third = self.opts.duration / 3
        start = time.time()
        await self._send(self.opts.rate, third, "pre")
        during = asyncio.create_task(self._send(self.opts.rate, third, "storm"))
        storm_start = time.time()
        procs = len(self.pool.processes)
        storms = await self.pool.ask_all(
            {"cmd": "storm", "concurrency": max(1, self.opts.storm_concurrency // procs)},
            timeout=300,
        )
        storm_end = time.time()
        await during
        await self._send(self.opts.rate, third, "post")
        self.window = (start, time.time())
        resume_ms = Histogram()
        errors: collections.Counter[str] = collections.Counter()
        for storm in storms:
            resume_ms.merge(Histogram.from_json(storm["resume_ms"]))
            errors.update(storm["errors"])
        self.extra["storm"] = {
            "connections": self.opts.agents,
            "resumed": sum(s["resumed"] for s in storms),
            "failed": sum(s["failed"] for s in storms),
            "errors": dict(errors),
            "resync": sum(s["resync"] for s in storms),
            "resume_events": sum(s["resume_events"] for s in storms),
            "all_resumed_seconds": round(max(s["finished"] for s in storms) - storm_start, 3),
            "storm_command_seconds": round(storm_end - storm_start, 3),
            "per_connection_reconnect_resume_ms": resume_ms.summary(),
            "server_during_storm": self.monitor.window("server", storm_start, storm_end + 1),
        }

    # ------------------------------------------------------------------ the run
    async def execute(self) -> dict[str, Any]:
        opts, target = self.opts, self.target
        self.monitor.watch("server", target.pid)
        self.monitor.watch("gen-main", os.getpid())
        self.monitor.start()
        result: dict[str, Any] = {
            "target": target.name,
            "kind": target.kind,
            "url": target.url,
            "server_pid": target.pid,
            "users": target.users_note,
            "user_count": len(target.tokens),
            "connections": opts.agents,
        }
        try:
            await asyncio.sleep(opts.settle)
            self.monitor.sample()
            result["rss_rest_mb"] = self.monitor.rss_mb("server")
            result["readyz_rest"] = await readyz(target.url) if target.kind == "server" else None
            self.sender = Sender(self.intakes, opts.max_inflight)
            async with self.sender:
                await self._execute(result)
        finally:
            if self.pool is not None:
                await self.pool.close()
            await self.monitor.stop()
        result["monitor"] = self.monitor.samples
        return result

    async def _execute(self, result: dict[str, Any]) -> None:
        opts = self.opts
        procs = self._procs()
        result["client_processes"] = procs
        collected: list[dict[str, Any]] = []
        if procs:
            if opts.client == "node":
                node_pool = NodeWorkerPool(self._worker_configs())
                self.pool = node_pool
                await node_pool.start()
            else:
                self.pool = WorkerPool(self._worker_configs())
            for index, pid in enumerate(self.pool.pids):
                self.monitor.watch(f"gen-worker-{index}", pid)
            connect_start = time.time()
            connects = await self.pool.ask_all({"cmd": "connect"}, timeout=600)
            errors: collections.Counter[str] = collections.Counter()
            for answer in connects:
                errors.update(answer["errors"])
            result["connect"] = {
                "connected": sum(a["connected"] for a in connects),
                "failed": sum(a["failed"] for a in connects),
                "seconds": round(time.time() - connect_start, 3),
                "errors": dict(errors),
                "rate_per_s": round(
                    sum(a["connected"] for a in connects) / max(1e-9, time.time() - connect_start),
                    1,
                ),
            }
        await asyncio.sleep(opts.settle)
        self.monitor.sample()
        result["rss_connected_mb"] = self.monitor.rss_mb("server")
        result["readyz_connected"] = (
            await readyz(self.target.url) if self.target.kind == "server" else None
        )
        scenario = opts.scenario.replace("-", "_")
        cpu_before = self._gen_cpu()
        await getattr(self, scenario)()
        result["rss_end_mb"] = self.monitor.rss_mb("server")
        if self.pool is not None:
            stops = await self.pool.ask_all({"cmd": "stop", "timeout": 30}, timeout=90)
            replies = [r for s in stops for r in s["reply_ids"]]
            assert self.sender is not None
            expected = self.sender.accepted + replies
            last = max((float(e[1]) for e in expected), default=time.time())
            deadline = max(time.time(), last) + opts.grace
            collected = await self.pool.ask_all(
                {"cmd": "collect", "expected": expected, "deadline": deadline},
                timeout=deadline - time.time() + 300,
            )
        cpu_after = self._gen_cpu()
        result.update(self._summarize(result, collected))
        result["generator"]["cost"] = self._cost(result, cpu_before, cpu_after)
        result.update(self.extra)

    # ------------------------------------------------------------------ summary
    def _gen_cpu(self) -> dict[str, float]:
        out = {}
        for name in self.monitor.processes:
            if name.startswith("gen-"):
                seconds = self.monitor.cpu_seconds(name)
                if seconds is not None:
                    out[name] = seconds
        return out

    def _cost(
        self, result: dict[str, Any], before: dict[str, float], after: dict[str, float]
    ) -> dict[str, Any]:
        """The generator's own CPU from the first send to the end of `collect` (late deliveries
        included), per 1,000 load events delivered to the agents (live or through `resume`)
        for the client processes, per 1,000 messages sent for the coordinator."""

        def used(prefix: str) -> float:
            return sum(
                after[name] - before[name]
                for name in after
                if name.startswith(prefix) and name in before
            )

        latency = result["latency_ms"]
        delivered = int(latency["inbound"]["count"] or 0) + int(latency["reply"]["count"] or 0)
        delivered += int(latency["delivered_via_resume"]["count"] or 0)
        sent = int(result["traffic"]["sent"])
        clients, coordinator = used("gen-worker-"), used("gen-main")
        return {
            "client": self.opts.client,
            "client_cpu_seconds": round(clients, 2),
            "coordinator_cpu_seconds": round(coordinator, 2),
            "events_delivered": delivered,
            "client_cpu_ms_per_1000_events": round(clients * 1e6 / delivered, 1)
            if delivered
            else None,
            "coordinator_cpu_ms_per_1000_sent": round(coordinator * 1e6 / sent, 1)
            if sent
            else None,
        }

    def _machine(self, start: float, end: float) -> dict[str, Any]:
        """All CPU on the box during the window, and what neither the server nor the load
        generator used (other sessions' work on a shared machine shows up here)."""
        machine = self.monitor.window("machine", start, end)
        server = self.monitor.window("server", start, end)
        generator = self.monitor.windows("gen-", start, end)
        other = None
        if machine["cpu_mean"] is not None:
            other = round(
                machine["cpu_mean"] - (server["cpu_mean"] or 0) - (generator["cpu_mean"] or 0), 1
            )
        return {
            "cpu_mean": machine["cpu_mean"],
            "cpu_max": machine["cpu_max"],
            "other_cpu_mean": other,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }

    def _summarize(self, result: dict[str, Any], collected: list[dict[str, Any]]) -> dict[str, Any]:
        assert self.sender is not None
        start, end = self.window
        seconds = max(1e-9, end - start)
        hists = HistogramSet()
        timeline = HistogramSet()
        events: collections.Counter[str] = collections.Counter()
        replies: collections.Counter[str] = collections.Counter()
        for part in collected:
            hists.merge_json(part["hists"])
            timeline.merge_json(part["timeline"])
            events.update(part["events"])
            replies.update(part["replies"])

        def total(key: str) -> int:
            return sum(int(part.get(key, 0)) for part in collected)

        def samples(key: str) -> list[Any]:
            return [s for part in collected for s in part.get(key, [])][:10]

        inbound = hists.merged(lambda k: k.startswith("in:"))
        reply = hists.merged(lambda k: k.startswith("reply:"))
        ack = hists.merged(lambda k: k.startswith("ack:"))
        via_resume = hists.merged(lambda k: "-resume:" in k)
        delivered = total("delivered_live")
        accepted = len(self.sender.accepted)
        rss_rest = result.get("rss_rest_mb") or 0.0
        rss_connected = result.get("rss_connected_mb") or 0.0
        connected = result.get("connect", {}).get("connected", 0)
        worker_cpu = [
            {
                "worker": p["worker"],
                "pid": p["pid"],
                "connections": p["connections"],
                "cpu_percent": cpu_percent(p["cpu_seconds"], p["wall_seconds"]),
                "rss_mb": p["rss_mb"],
            }
            for p in collected
        ]
        rows = []
        for second in sorted(timeline.by_key, key=int):
            hist = timeline.by_key[second]
            rows.append(
                {
                    "t": int(second) - int(start),
                    "n": hist.count,
                    "p50": round(hist.percentile(50), 2),
                    "p99": round(hist.percentile(99), 2),
                    "max": round(hist.max, 2),
                }
            )
        traffic_sent = sum(p["sent"] for p in self.phases)
        names = self.intakes.accounts()
        by_intake: collections.Counter[str] = collections.Counter()
        for part in collected:
            for account_id, n in part.get("inbound_by_account", {}).items():
                by_intake[names.get(account_id, account_id)] += n
        auto_resumes: collections.Counter[str] = collections.Counter()
        auto_ms = Histogram()
        for part in collected:
            auto_resumes.update(part.get("auto_resumes", {}))
            if part.get("auto_resume_ms"):
                auto_ms.merge(Histogram.from_json(part["auto_resume_ms"]))
        return {
            "intake": {
                "mode": self.intakes.mode,
                "paths": self.intakes.describe(),
                "http_status": {k: dict(v) for k, v in self.sender.status_by_intake.items()},
                "http_errors": self.sender.errors_by_intake(),
                "delivered_inbound": dict(by_intake),
            },
            "reconnects": {
                "auto_resumes": dict(auto_resumes),
                "auto_resume_ms": auto_ms.summary(),
            },
            "window_seconds": round(seconds, 3),
            "traffic": {
                "phases": self.phases,
                "sent": traffic_sent,
                "accepted": accepted,
                "skipped_by_generator": self.sender.skipped,
                "http_status": dict(self.sender.status),
                "http_errors": self.sender.errors(),
                "http_error_samples": self.sender.error_samples,
                "sent_per_s": round(traffic_sent / seconds, 2),
                "http_ms": self.sender.http_ms.merged(lambda _: True).summary(),
                "generator_lag_ms": self.sender.lag_ms.summary(),
            },
            "latency_ms": {
                "inbound": inbound.summary(),
                "reply": reply.summary(),
                "reply_ack": ack.summary(),
                "delivered_via_resume": via_resume.summary(),
            },
            "replies": dict(replies),
            "delivered_events": delivered,
            "delivered_per_s": round(delivered / seconds, 1),
            "all_events_received": dict(events),
            "expected_deliveries": total("expected_pairs"),
            "lost": total("lost"),
            "lost_samples": samples("lost_samples"),
            "duplicates": total("duplicates"),
            "duplicate_samples": samples("duplicate_samples"),
            "resume_overlap": total("resume_overlap"),
            "out_of_order": total("out_of_order"),
            "seq_gaps": total("seq_gaps"),
            "seq_gap_samples": samples("seq_gap_samples"),
            "seq_repeats": total("seq_repeats"),
            "unexpected_disconnects": total("unexpected_disconnects"),
            "disconnect_reasons": dict(
                sum(
                    (collections.Counter(p.get("disconnect_reasons", {})) for p in collected),
                    collections.Counter(),
                )
            ),
            "server": {
                **self.monitor.window("server", start, end),
                "rss_rest_mb": result.get("rss_rest_mb"),
                "rss_connected_mb": result.get("rss_connected_mb"),
                "rss_end_mb": result.get("rss_end_mb"),
                "rss_per_connection_kb": round((rss_connected - rss_rest) * 1024 / connected, 2)
                if connected and rss_rest
                else None,
            },
            "machine": self._machine(start, end),
            "generator": {
                "client_processes": len(collected),
                "cpu_percent_all_processes": self.monitor.windows("gen-", start, end),
                "main_process": self.monitor.window("gen-main", start, end),
                "workers": worker_cpu,
            },
            "latency_timeline": rows,
        }
