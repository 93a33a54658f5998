"""Cluster mode with real processes: 3 server nodes + nginx (deploy/nginx.conf) + FerretDB +
redis-server. Each test gets a fresh cluster (see conftest.py).

Every wait is bounded; the only timing claims are "within the lease time" deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from server.cluster.coordination import LEASE_MS
from tests.cluster.conftest import Agent, Cluster

pytestmark = pytest.mark.services

LEASE = LEASE_MS / 1000
UNASSIGNED = {"user_id": None, "team_id": None}


# --------------------------------------------------------------------------- helpers


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.2
) -> None:
    """Poll `check` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        await asyncio.sleep(every)


def seqs_by_conversation(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for event in events:
        found[event["conversation_id"]].append(event["seq"])
    return found


def applied(agent: Agent) -> list[dict[str, Any]]:
    """The logged events as the web client applies them: drop a cursor it already applied."""
    seen: set[int] = set()
    out = []
    for event in agent.logged():
        if event["cursor"] not in seen:
            seen.add(event["cursor"])
            out.append(event)
    return out


def inbound_ids(events: list[dict[str, Any]], conversation_id: str | None = None) -> list[str]:
    """Provider message ids of the inbound `message.created` events (one entry per event)."""
    return [
        e["data"]["message"]["provider_message_id"]
        for e in events
        if e["type"] == "message.created"
        and e["data"]["message"]["kind"] == "inbound"
        and (conversation_id is None or e["conversation_id"] == conversation_id)
    ]


async def stored_inbound_ids(cluster: Cluster, conversation_id: str, url: str) -> list[str]:
    messages = await cluster.messages(conversation_id, url=url)
    return [m["provider_message_id"] for m in messages if m["kind"] == "inbound"]


def log_events(cluster: Cluster, i: int) -> list[dict[str, Any]]:
    lines = cluster.nodes[i].log_path.read_text(errors="replace").splitlines()
    out = []
    for line in lines:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


@dataclass
class Traffic:
    """API-channel senders that behave like a provider: a message not acknowledged (no 2xx,
    connection refused, node died mid-request) is redelivered with the same message_id via
    nginx until acknowledged. `acked[message_id] = conversation_id` once a 2xx came back."""

    cluster: Cluster
    targets: list[str]
    acked: dict[str, str] = field(default_factory=dict)
    # (message_id, started, status, url, seconds taken)
    answers: list[tuple[str, float, int, str, float]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    redeliveries: int = 0

    async def send(self, sender: str, message_id: str, url: str, deadline: float = 30.0) -> str:
        give_up = time.monotonic() + deadline
        while True:
            started = time.monotonic()
            status, body = await self.cluster.inbound(
                sender, f"{sender} says {message_id}", message_id, url
            )
            self.answers.append((message_id, started, status, url, time.monotonic() - started))
            if status in (200, 201):
                self.acked[message_id] = body["conversation_id"]
                return str(body["conversation_id"])
            assert time.monotonic() < give_up, f"{message_id} never acknowledged: {status} {body}"
            self.redeliveries += 1
            url = self.cluster.url  # the provider retries; nginx picks a live node
            await asyncio.sleep(0.2)

    async def customer(
        self, sender: str, start: int, pause: float = 0.05, limit: int = 200, first: int = 0
    ) -> None:
        rotation = itertools.cycle(self.targets[start:] + self.targets[:start])
        for k in range(first, first + limit):
            if self.stop.is_set():
                return
            await self.send(sender, f"{sender}#{k}", next(rotation))
            await asyncio.sleep(pause)


async def agents_caught_up(
    cluster: Cluster, agents: list[Agent], conversation_ids: list[str], url: str
) -> bool:
    """Every agent has applied every event up to each conversation's current seq."""
    for conversation_id in conversation_ids:
        final = (await cluster.conversation(conversation_id, url=url))["seq"]
        for agent in agents:
            seqs = seqs_by_conversation(applied(agent)).get(conversation_id, [])
            if max(seqs, default=0) < final:
                return False
    return True


# --------------------------------------------------------------------------- fan-out


async def test_agents_on_every_node_see_every_event_once_in_seq_order(cluster: Cluster) -> None:
    # Six sockets through nginx: least_conn spreads them over the three nodes.
    agents = [await cluster.connect(user) for user in ("alice", "bob") * 3]
    spread = [(await cluster.readyz(i))[1]["connections"] for i in range(3)]
    assert sum(spread) == 6 and min(spread) >= 1, f"nginx did not spread the sockets: {spread}"
    # And one socket straight to each node.
    direct = [
        await cluster.connect(("alice", "bob", "alice")[i], cluster.node_url(i)) for i in range(3)
    ]
    agents += direct

    targets = [*cluster.node_urls, cluster.url]
    traffic = Traffic(cluster, targets)
    customers = [f"fan{c}@example.com" for c in range(4)]
    # Intake lands on every node (and nginx) in turn; 4 customers write at once.
    await asyncio.gather(
        *(traffic.customer(s, c, pause=0.0, limit=6) for c, s in enumerate(customers))
    )
    conversation_ids = sorted(set(traffic.acked.values()))
    assert len(conversation_ids) == 4

    # Agents on different nodes act on conversations that live elsewhere (forwarded).
    for i, conversation_id in enumerate(conversation_ids):
        agent = direct[i % 3]
        ack = await agent.call(
            "message.send",
            {
                "conversation_id": conversation_id,
                "text": f"reply {i}",
                "idempotency_key": uuid.uuid4().hex,
            },
        )
        assert ack["ok"], ack
    ack = await direct[2].call(
        "conversation.assign", {"conversation_id": conversation_ids[0], "user_id": "usr_bob"}
    )
    assert ack["ok"], ack
    await asyncio.gather(
        *(traffic.customer(s, c + 1, pause=0.0, limit=3, first=6) for c, s in enumerate(customers))
    )

    # Quiet: every agent caught up with every conversation's last seq (replies' "sent"
    # statuses come from the outbox a moment later), and it stays so.
    node0 = cluster.node_url(0)
    await eventually(
        lambda: agents_caught_up(cluster, agents, conversation_ids, node0), 20, "agents caught up"
    )
    await asyncio.sleep(1.0)
    assert await agents_caught_up(cluster, agents, conversation_ids, node0)

    finals = {cid: (await cluster.conversation(cid, url=node0))["seq"] for cid in conversation_ids}
    reference = [e["cursor"] for e in agents[0].logged()]
    for agent in agents:
        logged = agent.logged()
        cursors = [e["cursor"] for e in logged]
        assert len(set(cursors)) == len(cursors), f"{agent.user}@{agent.url}: an event twice"
        assert cursors == sorted(cursors), f"{agent.user}@{agent.url}: cursors out of order"
        assert cursors == reference, "two agents saw different event orders"
        by_conversation = seqs_by_conversation(logged)
        assert set(by_conversation) == set(conversation_ids)
        for conversation_id, seqs in by_conversation.items():
            assert seqs == list(range(1, finals[conversation_id] + 1)), (
                f"{agent.user}@{agent.url} {conversation_id}: {seqs}"
            )
        # Each acknowledged inbound message exactly once.
        assert Counter(inbound_ids(logged)) == Counter(list(traffic.acked))
    for conversation_id in conversation_ids:
        stored = await stored_inbound_ids(cluster, conversation_id, cluster.node_url(2))
        assert sorted(stored) == sorted(m for m, c in traffic.acked.items() if c == conversation_id)


# --------------------------------------------------------------------------- intake race


async def test_one_new_customer_writing_twice_at_once_on_two_nodes_gets_one_conversation(
    cluster: Cluster,
) -> None:
    alice = await cluster.connect("alice")
    node1, node2 = cluster.node_url(1), cluster.node_url(2)
    conversation_ids = []
    for k in range(5):
        sender = f"twice{k}@example.com"
        (s1, b1), (s2, b2) = await asyncio.gather(
            cluster.inbound(sender, "first", f"twice{k}-a", node1),
            cluster.inbound(sender, "second", f"twice{k}-b", node2),
        )
        assert (s1, s2) == (201, 201), (b1, b2)
        assert b1["conversation_id"] == b2["conversation_id"]
        conversation_id = b1["conversation_id"]
        conversation_ids.append(conversation_id)
        for url in cluster.node_urls:
            stored = await stored_inbound_ids(cluster, conversation_id, url)
            assert sorted(stored) == [f"twice{k}-a", f"twice{k}-b"]

    status, listing = await cluster.api("GET", "/api/conversations?tab=all")
    assert status == 200
    assert sorted(c["id"] for c in listing["conversations"]) == sorted(conversation_ids)
    assert len({c["contact_id"] for c in listing["conversations"]}) == 5

    await alice.wait_for(
        lambda n, d: n == "message.created" and len(inbound_ids(alice.logged())) >= 10
    )
    created = Counter(e["conversation_id"] for e in alice.of_type("conversation.created"))
    assert created == Counter({cid: 1 for cid in conversation_ids})


# --------------------------------------------------------------------------- assignment race


async def test_two_agents_on_two_nodes_assign_at_once_one_wins_one_conflict(
    cluster: Cluster,
) -> None:
    alice = await cluster.connect("alice", cluster.node_url(0))
    bob = await cluster.connect("bob", cluster.node_url(1))
    for k in range(3):
        # The conversation lives on node k: once on an agent's node, once on the other's,
        # once on neither.
        status, body = await cluster.inbound(
            f"race{k}@example.com", "who takes me?", f"race{k}", cluster.node_url(k)
        )
        assert status == 201
        conversation_id = body["conversation_id"]
        seen = []
        for agent in (alice, bob):
            events = await agent.wait_for(
                lambda n, d, cid=conversation_id: (
                    n == "message.created" and d["conversation_id"] == cid
                )
            )
            conv = events[-1]["data"]["conversation"]
            seen.append({"user_id": conv["assignee_user_id"], "team_id": conv["assignee_team_id"]})
        assert seen == [UNASSIGNED, UNASSIGNED]

        answers = await asyncio.gather(
            alice.call(
                "conversation.assign",
                {"conversation_id": conversation_id, "user_id": "usr_alice", "expected": seen[0]},
            ),
            bob.call(
                "conversation.assign",
                {"conversation_id": conversation_id, "user_id": "usr_bob", "expected": seen[1]},
            ),
        )
        won = [a for a in answers if a["ok"]]
        lost = [a for a in answers if not a["ok"]]
        assert len(won) == 1 and len(lost) == 1, answers
        assert lost[0]["error"]["code"] == "assignment_conflict", lost[0]
        assert lost[0]["error"]["message"]
        winner = won[0]["conversation"]["assignee_user_id"]
        assert winner in ("usr_alice", "usr_bob")

        for url in cluster.node_urls:
            conv = await cluster.conversation(conversation_id, url=url)
            assert (conv["assignee_user_id"], conv["assignee_team_id"]) == (winner, None), url

        def assigned(n: str, d: dict[str, Any], cid: str = conversation_id) -> bool:
            return (
                n == "conversation.updated"
                and d["conversation_id"] == cid
                and "assignee_user_id" in d["data"]["changes"]
            )

        updates = []
        for agent in (alice, bob):
            await agent.wait_for(assigned)
            await asyncio.sleep(0.2)  # a second (wrong) update would arrive right behind
            mine = [d for n, d in agent.events if assigned(n, d)]
            assert len(mine) == 1, mine
            updates.append(mine[0])
        assert updates[0] == updates[1]
        assert updates[0]["data"]["conversation"]["assignee_user_id"] == winner


# --------------------------------------------------------------------------- node loss


async def test_a_password_reset_on_one_node_ends_the_sessions_on_every_node(
    cluster: Cluster,
) -> None:
    node0, node1, node2 = cluster.node_urls
    alice = await cluster.connect("alice", node1)  # her open tab, on another node
    bob = await cluster.connect("bob", node2)
    token = await cluster.token("alice")

    async def me(url: str) -> int:
        async with cluster.http.get(
            f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return response.status

    assert await me(node2) == 200  # node 2 has the session cached from now on
    status, body = await cluster.api(
        "PATCH", "/api/users/usr_alice", "admin", {"password": "a brand new one"}, url=node0
    )
    assert status == 200, body

    async def refused_everywhere() -> bool:
        return all([await me(url) == 401 for url in (node0, node1, node2)])

    await eventually(refused_everywhere, 10, "alice's old session refused on every node")
    await asyncio.wait_for(alice.disconnected.wait(), timeout=10)  # her socket on node 1 closed
    # Everyone else heard that users changed, whatever node they are on; bob stays connected.
    await bob.wait_for(lambda n, d: n == "workspace.changed" and d["kind"] == "users")
    assert not bob.disconnected.is_set()


async def test_kill_9_a_node_under_traffic_loses_and_duplicates_nothing(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.node_urls
    victim_agent = await cluster.connect("alice", node0)  # on the node that will die
    survivor = await cluster.connect("bob", node1)
    balanced = await cluster.connect("alice")  # nginx: any node, maybe the victim

    traffic = Traffic(cluster, [node0, node1, node2, cluster.url])
    # Conversations that live on node 0 (their first message landed there) and elsewhere.
    on_victim = [f"victim{c}@example.com" for c in range(3)]
    elsewhere = [f"other{c}@example.com" for c in range(2)]
    for sender in on_victim:
        await traffic.send(sender, f"{sender}#first", node0)
    for c, sender in enumerate(elsewhere):
        await traffic.send(sender, f"{sender}#first", (node1, node2)[c])
    _, ready = await cluster.readyz(0)
    assert ready["active_conversations"] >= 3

    senders = [
        asyncio.create_task(traffic.customer(s, c, pause=0.1))
        for c, s in enumerate(on_victim + elsewhere)
    ]
    try:
        await asyncio.sleep(1.5)
        cluster.kill_node(0)
        killed_at = time.monotonic()

        # node 0's conversations continue on the others within the lease time.
        took: dict[str, float] = {}

        async def after_kill(sender: str) -> None:
            await traffic.send(sender, f"{sender}#after-kill", node1, deadline=LEASE + 5)
            took[sender] = round(time.monotonic() - killed_at, 1)

        try:
            async with asyncio.timeout(LEASE + 5):
                await asyncio.gather(*(after_kill(s) for s in on_victim))
        except TimeoutError:
            raise AssertionError(
                f"node 0's conversations did not continue within the lease time "
                f"({LEASE:.0f} s + 5 s): only {took} answered (see 'store' below for "
                "commits node 0 left unfinished)"
            ) from None
        await asyncio.sleep(1.0)  # more traffic on the survivors
        traffic.stop.set()
        await asyncio.wait_for(asyncio.gather(*senders), timeout=40)
    finally:
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)

    # Nothing acknowledged is lost or duplicated in the store.
    conversation_ids = sorted(set(traffic.acked.values()))
    assert len(conversation_ids) == 5
    for conversation_id in conversation_ids:
        stored = await stored_inbound_ids(cluster, conversation_id, node1)
        expected = sorted(m for m, c in traffic.acked.items() if c == conversation_id)
        assert sorted(stored) == expected, conversation_id
        assert len(stored) == len(set(stored))

    # Agents of the dead node reconnect through nginx and resume from their cursor.
    async with asyncio.timeout(5):
        await victim_agent.disconnected.wait()
    resumed = []
    for agent in (victim_agent, survivor, balanced):
        if not agent.client.connected:
            cursor = agent.cursor
            await agent.reconnect(cluster.url)
            ack = await agent.call("resume", {"cursor": cursor})
            assert ack["ok"] and not ack.get("resync"), ack
            agent.apply(ack["events"])
            resumed.append(agent)
    assert victim_agent in resumed

    async def everyone_has_everything() -> bool:
        return all(
            set(inbound_ids(applied(a))) >= set(traffic.acked)
            for a in (victim_agent, survivor, balanced)
        )

    try:
        await eventually(everyone_has_everything, 15, "every agent has every acknowledged message")
    except AssertionError:
        for a in (victim_agent, survivor, balanced):
            missing = sorted(set(traffic.acked) - set(inbound_ids(applied(a))))
            print(f"{a.user}@{a.url} misses {missing}")
            for message_id in missing:
                print(
                    "   ",
                    [
                        (s, u, round(t - killed_at, 2))
                        for m, t, s, u, _ in traffic.answers
                        if m == message_id
                    ],
                )
        raise
    for agent in (victim_agent, survivor, balanced):
        events = applied(agent)
        ids = inbound_ids(events)
        assert Counter(ids) == Counter(list(traffic.acked)), f"{agent.user}: duplicates or strays"
    print(
        f"node-0 conversations back after {took} s; "
        f"{len(traffic.acked)} acked, {traffic.redeliveries} redeliveries"
    )


# --------------------------------------------------------------------------- Redis loss


async def test_redis_restart_under_traffic_degrades_then_recovers(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.node_urls
    steady = await cluster.connect("alice", node0)  # stays connected throughout
    away = await cluster.connect("bob")  # leaves before Redis goes, resumes after

    traffic = Traffic(cluster, [node0, node1, node2, cluster.url])
    customers = [f"redis{c}@example.com" for c in range(3)]
    for c, sender in enumerate(customers):
        await traffic.send(sender, f"{sender}#first", cluster.node_urls[c])
    await away.wait_for(lambda n, d: len(inbound_ids(away.logged())) >= 3)
    cursor = away.cursor
    await away.close()

    senders = [
        asyncio.create_task(traffic.customer(s, c, pause=0.1)) for c, s in enumerate(customers)
    ]
    try:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.redis.stop)  # (the senders keep running meanwhile)
        down_from = time.monotonic()
        await asyncio.sleep(1.0)
        # Nodes keep serving while Redis is down: health, and a new live connection (presence
        # falls back to the node's own view).
        for i in range(3):
            status, ready = await cluster.readyz(i)
            assert status == 200, ready
        late = await cluster.connect("bob", node2)
        await asyncio.sleep(2.0)
        down_until = time.monotonic()
        await asyncio.to_thread(cluster.redis.start)
        await asyncio.sleep(2.0)
        traffic.stop.set()
        await asyncio.wait_for(asyncio.gather(*senders), timeout=40)
    finally:
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)

    during = [a for a in traffic.answers if down_from <= a[1] <= down_until - 0.5]
    print("intake while Redis was down:", [(a[2], round(a[4], 2)) for a in during])
    # (Each Redis call of a node first runs through redis-py's retries, ~1-2 s, before the
    # node falls back: intake slows down while Redis is away, it does not stop.)
    assert len(during) >= 5, during
    assert all(status == 201 for _, _, status, _, _ in during), during

    # Recovered by itself: a new message reaches the agent that stayed connected.
    await traffic.send(customers[0], "after-redis", node2)
    await steady.wait_for(
        lambda n, d: (
            n == "message.created" and d["data"]["message"]["provider_message_id"] == "after-redis"
        ),
        timeout=15,
    )
    # Degraded mode was logged, and so was the recovery.
    logged = [e["event"] for i in range(3) for e in log_events(cluster, i)]
    assert "router.redis_unreachable" in logged
    assert "presence.degraded" in logged
    assert "bus.redis_unreachable" in logged and "bus.redis_back" in logged

    conversation_ids = sorted(set(traffic.acked.values()))
    for conversation_id in conversation_ids:
        stored = await stored_inbound_ids(cluster, conversation_id, node1)
        expected = sorted(m for m, c in traffic.acked.items() if c == conversation_id)
        assert sorted(stored) == expected, conversation_id

    # The agent who was away resumes: either the missed events, or an explicit resync after
    # which an HTTP re-read shows every acknowledged message.
    await away.reconnect(cluster.url)
    ack = await away.call("resume", {"cursor": cursor})
    assert ack["ok"], ack
    if ack.get("resync"):
        assert ack["resync"] is True and set(ack) == {"ok", "resync", "cursor"}
        reread: list[str] = []
        for conversation_id in conversation_ids:
            reread += await stored_inbound_ids(cluster, conversation_id, cluster.url)
        assert Counter(reread) == Counter(list(traffic.acked))
        outcome = "resync"
    else:
        away.apply(ack["events"])
        await eventually(
            lambda: asyncio.sleep(0, set(inbound_ids(applied(away))) >= set(traffic.acked)),
            10,
            "the resumed agent has every acknowledged message",
        )
        assert Counter(inbound_ids(applied(away))) == Counter(list(traffic.acked))
        outcome = "events"

    # The agent that stayed connected got the events queued during the outage, once each.
    try:
        await eventually(
            lambda: asyncio.sleep(0, set(inbound_ids(applied(steady))) >= set(traffic.acked)),
            15,
            "the connected agent got every acknowledged message",
        )
    except AssertionError:
        missing = sorted(set(traffic.acked) - set(inbound_ids(applied(steady))))
        print("the connected agent misses", missing)
        for m, t, s, u, took in traffic.answers:
            if m in missing:
                print("   ", m, s, u, round(t - down_from, 2), round(took, 2))
        raise
    for agent in (steady, late):
        assert Counter(inbound_ids(applied(agent))) >= Counter(
            [m for m, t, s, _, _ in traffic.answers if s in (200, 201) and t >= down_from]
        )
    assert Counter(inbound_ids(applied(steady))) == Counter(list(traffic.acked))
    # Nothing lost or doubled for the connected agent: per conversation, the seqs it applied
    # are exactly 1..N (the order may differ from seq order when two nodes wrote one
    # conversation while Redis was away and flushed their queues in a different order).
    out_of_order = {}
    for conversation_id, seqs in seqs_by_conversation(applied(steady)).items():
        final = (await cluster.conversation(conversation_id, url=node0))["seq"]
        assert sorted(seqs) == list(range(1, final + 1)), conversation_id
        if seqs != sorted(seqs):
            out_of_order[conversation_id] = seqs
    print(f"seq order broken after the outage: {out_of_order or 'no'}")
    print(f"resume after the Redis restart: {outcome}; {len(during)} intakes while down")
