"""Behaviour of the generic actor runtime (server/actors/runtime.py, mailbox.py)."""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from server.actors import (
    Actor,
    ActorCrashed,
    ActorEscalated,
    ActorSpec,
    ActorSystem,
    ActorSystemClosed,
    AskTimeout,
    StopReason,
)
from server.actors.mailbox import Mailbox


@dataclass
class World:
    """Shared record of what every Probe incarnation did; `store` plays the database."""

    store: dict[str, list[Any]] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)
    events: list[tuple[str, str, Any]] = field(default_factory=list)
    fail_starts: int = 0
    running: Counter[str] = field(default_factory=Counter)
    max_running: Counter[str] = field(default_factory=Counter)
    stop_entered: asyncio.Event = field(default_factory=asyncio.Event)
    stop_gate: asyncio.Event | None = None
    idle_vetoes: int = 0
    idle_checks: int = 0


class Probe(Actor):
    """Keeps a list of the messages it saw; on_stop flushes it to `world.store`."""

    def __init__(self, key: str, world: World) -> None:
        self.key = key
        self.world = world
        self.incarnation = 0
        self.state: list[Any] = []

    async def on_start(self) -> None:
        self.world.starts[self.key] += 1
        self.incarnation = self.world.starts[self.key]
        if self.world.fail_starts > 0:
            self.world.fail_starts -= 1
            raise RuntimeError("cannot load state")
        self.state = list(self.world.store.get(self.key, []))

    async def handle_call(self, message: Any) -> Any:
        return await self._handle(message)

    async def handle_cast(self, message: Any) -> None:
        await self._handle(message)

    async def _handle(self, message: Any) -> Any:
        world, key = self.world, self.key
        world.running[key] += 1
        world.max_running[key] = max(world.max_running[key], world.running[key])
        try:
            match message:
                case ("block", asyncio.Event() as entered, asyncio.Event() as gate):
                    entered.set()
                    await gate.wait()
                    return None
                case "boom":
                    raise ValueError("boom")
                case "state":
                    return (self.incarnation, list(self.state))
                case _:
                    await asyncio.sleep(0)
                    self.state.append(message)
                    world.events.append(("handled", key, message))
                    return message
        finally:
            world.running[key] -= 1

    async def on_stop(self, reason: StopReason) -> None:
        self.world.events.append(("stop", self.key, reason))
        self.world.stop_entered.set()
        if self.world.stop_gate is not None:
            await self.world.stop_gate.wait()
        self.world.store[self.key] = list(self.state)

    def on_idle_check(self) -> bool:
        self.world.idle_checks += 1
        if self.world.idle_vetoes > 0:
            self.world.idle_vetoes -= 1
            return False
        return True


SystemFactory = Callable[..., ActorSystem]


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
async def make_system(world: World) -> AsyncIterator[SystemFactory]:
    systems: list[ActorSystem] = []

    def make(
        on_escalate: Callable[[str, BaseException], None] | None = None, **spec: Any
    ) -> ActorSystem:
        fast = {"backoff_initial": 0.001, "backoff_max": 0.004, "idle_timeout": None}
        system = ActorSystem(
            "probe", lambda key: Probe(key, world), ActorSpec(**{**fast, **spec}), on_escalate
        )
        systems.append(system)
        return system

    yield make
    for system in systems:
        await system.shutdown(timeout=1.0)


async def settle(rounds: int = 10) -> None:
    """Let every ready task run a few steps."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def _eventually(check: Callable[[], bool], seconds: float = 2.0) -> bool:
    for _ in range(int(seconds / 0.005)):
        if check():
            return True
        await asyncio.sleep(0.005)
    return check()


def blocker() -> tuple[tuple[str, asyncio.Event, asyncio.Event], asyncio.Event, asyncio.Event]:
    entered, gate = asyncio.Event(), asyncio.Event()
    return ("block", entered, gate), entered, gate


# -- 1. bounded mailbox ----------------------------------------------------------------------


async def test_tell_waits_for_a_free_slot_when_mailbox_is_full(make_system: SystemFactory) -> None:
    system = make_system(mailbox_size=2)
    block, entered, gate = blocker()
    await system.tell("a", block)
    await entered.wait()
    await system.tell("a", 1)
    await system.tell("a", 2)

    third = asyncio.create_task(system.tell("a", 3))
    await settle()
    assert not third.done()

    gate.set()
    await third
    assert await system.ask("a", "state") == (1, [1, 2, 3])


async def test_cancelled_blocked_sender_does_not_lose_the_slot() -> None:
    mailbox: Mailbox[int] = Mailbox(1)
    await mailbox.put(0)
    cancelled = asyncio.create_task(mailbox.put(1))
    waiting = asyncio.create_task(mailbox.put(2))
    await settle()
    cancelled.cancel()
    assert await mailbox.get() == 0
    await waiting
    assert await mailbox.get() == 2
    assert mailbox.is_drained()


async def test_an_empty_mailbox_holds_no_queues() -> None:
    mailbox: Mailbox[int] = Mailbox(1)
    assert mailbox._items is None and mailbox._putters is None
    await mailbox.put(0)
    blocked = asyncio.create_task(mailbox.put(1))
    await settle()
    assert mailbox._putters is not None
    assert await mailbox.get() == 0
    await blocked
    assert await mailbox.get() == 1
    assert mailbox._items is None and mailbox._putters is None
    assert len(mailbox) == 0 and mailbox.is_drained()
    await mailbox.put(2)
    assert mailbox.close(lambda: RuntimeError("closed")) == [2]
    assert mailbox._items is None


# -- 2. tell and ask -------------------------------------------------------------------------


async def test_tell_and_ask_are_processed_in_order(make_system: SystemFactory) -> None:
    system = make_system()
    await system.tell("a", "x")
    assert await system.ref("a").ask("y") == "y"
    await system.ref("a").tell("z")
    assert await system.ask("a", "state") == (1, ["x", "y", "z"])


async def test_ask_timeout_raises_and_late_reply_is_dropped(make_system: SystemFactory) -> None:
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: loop_errors.append(ctx))
    system = make_system()
    block, entered, gate = blocker()

    with pytest.raises(AskTimeout) as info:
        await system.ask("a", block, timeout=0.01)
    assert isinstance(info.value, TimeoutError)
    assert entered.is_set()

    gate.set()
    assert await system.ask("a", "after") == "after"
    assert loop_errors == []


# -- 3. one-for-one supervision --------------------------------------------------------------


async def test_crash_fails_only_that_ask_and_restart_keeps_queued_messages(
    make_system: SystemFactory, world: World
) -> None:
    world.store["a"] = ["loaded"]
    system = make_system()
    await system.tell("a", "unsaved")
    block, entered, gate = blocker()
    await system.tell("a", block)
    await entered.wait()

    crashing = asyncio.create_task(system.ask("a", "boom"))
    await settle()
    await system.tell("a", "queued")
    behind = asyncio.create_task(system.ask("a", "state"))
    await settle()
    gate.set()

    with pytest.raises(ActorCrashed) as info:
        await crashing
    assert isinstance(info.value.cause, ValueError)
    # Incarnation 2 reloaded from the store: "unsaved" died with incarnation 1.
    assert await behind == (2, ["loaded", "queued"])
    assert world.starts["a"] == 2


async def test_crash_in_on_start_is_restarted(make_system: SystemFactory, world: World) -> None:
    world.fail_starts = 2
    system = make_system()
    assert await system.ask("a", "state") == (3, [])


def test_backoff_doubles_and_is_capped() -> None:
    spec = ActorSpec(backoff_initial=0.1, backoff_max=0.5)
    assert [spec.backoff(n) for n in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]


async def test_restarts_sleep_the_backoff_and_success_resets_it(
    make_system: SystemFactory, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    # Records the runtime's backoff sleeps (and the probe's own sleep(0)s, filtered out below).
    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    world.fail_starts = 3
    system = make_system(backoff_initial=0.001, backoff_max=0.003, max_restarts=10)
    await system.tell("a", "ok")  # three failed starts, then success
    with pytest.raises(ActorCrashed):
        await system.ask("a", "boom")  # "ok" succeeded in between, so backoff starts over
    assert await system.ask("a", "state") == (5, [])
    assert [d for d in delays if d > 0] == [0.001, 0.002, 0.003, 0.001]


# -- 4. restart intensity and escalation -----------------------------------------------------


async def test_too_many_crashes_escalate_and_stop_restarting(
    make_system: SystemFactory, world: World
) -> None:
    escalated = asyncio.Event()
    escalations: list[tuple[str, BaseException]] = []

    def on_escalate(key: str, exc: BaseException) -> None:
        escalations.append((key, exc))
        escalated.set()

    system = make_system(on_escalate, max_restarts=1, restart_window=60.0)
    block, entered, gate = blocker()
    await system.tell("a", block)
    await entered.wait()
    first = asyncio.create_task(system.ask("a", "boom"))
    await settle()
    second = asyncio.create_task(system.ask("a", "boom"))
    await settle()
    queued = asyncio.create_task(system.ask("a", "never"))
    await settle()

    with capture_logs() as logs:
        gate.set()
        await escalated.wait()

    for crash in (first, second):
        with pytest.raises(ActorCrashed):
            await crash
    with pytest.raises(ActorEscalated):
        await queued
    assert [(key, type(exc)) for key, exc in escalations] == [("a", ValueError)]
    assert ("stop", "a", "escalated") in world.events
    assert not system.is_active("a")
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [(e["event"], e["key"], e["system"]) for e in errors] == [
        ("actor.escalated", "a", "probe")
    ]

    with pytest.raises(ActorEscalated):
        await system.tell("a", "x")
    with pytest.raises(ActorEscalated):
        await system.ask("a", "x")
    await settle()
    assert world.starts["a"] == 2


async def test_crash_looping_on_start_escalates_without_spinning(
    make_system: SystemFactory, world: World
) -> None:
    escalated = asyncio.Event()
    world.fail_starts = 1000
    system = make_system(lambda _k, _e: escalated.set(), max_restarts=3)
    pending = asyncio.create_task(system.ask("a", "x"))
    await escalated.wait()
    with pytest.raises(ActorEscalated):
        await pending
    await settle()
    assert world.starts["a"] == 4
    assert ("stop", "a", "escalated") not in world.events  # never started, nothing to flush


async def test_reset_and_cooldown_clear_escalation(
    make_system: SystemFactory, world: World
) -> None:
    world.fail_starts = 2
    system = make_system(max_restarts=0, escalation_cooldown=60.0)
    with pytest.raises(ActorEscalated):
        await system.ask("a", "x")
    with pytest.raises(ActorEscalated):
        await system.tell("a", "x")
    system.reset("a")
    with pytest.raises(ActorEscalated):  # second failing start, escalates again
        await system.ask("a", "x")

    cooled = make_system(max_restarts=0, escalation_cooldown=0.0)
    world.fail_starts = 1
    with pytest.raises(ActorEscalated):
        await cooled.ask("b", "x")
    assert await cooled.ask("b", "x") == "x"


# -- 5. passivation --------------------------------------------------------------------------


async def test_idle_actor_is_passivated_and_removed(
    make_system: SystemFactory, world: World
) -> None:
    system = make_system(idle_timeout=0.01)
    await system.tell("a", "x")
    assert system.active_count() == 1
    await world.stop_entered.wait()
    await settle()
    assert system.active_count() == 0
    assert world.events[-1] == ("stop", "a", "passivated")
    assert world.store["a"] == ["x"]
    assert await system.ask("a", "state") == (2, ["x"])


async def test_one_idle_sweep_per_system_finds_idle_actors(
    make_system: SystemFactory, world: World
) -> None:
    system = make_system(idle_timeout=0.02)
    assert system._idle_sweep is None
    for key in ("a", "b", "c"):
        await system.tell(key, "x")
    assert system._idle_sweep is not None  # one timer for the system, none per actor or message
    assert await _eventually(lambda: system.active_count() == 0)
    stops = sorted(e for e in world.events if e[0] == "stop")
    assert stops == [("stop", key, "passivated") for key in ("a", "b", "c")]
    # Nothing left to sweep: it stops rescheduling until the next activation.
    assert await _eventually(lambda: system._idle_sweep is None)
    assert await system.ask("a", "state") == (2, ["x"])
    assert system._idle_sweep is not None


async def test_message_during_passivation_reaches_next_incarnation_after_on_stop(
    make_system: SystemFactory, world: World
) -> None:
    world.stop_gate = asyncio.Event()
    system = make_system(idle_timeout=0.01)
    await system.tell("a", "x")
    await world.stop_entered.wait()

    reply = asyncio.create_task(system.ask("a", "state"))
    await settle()
    assert system.is_active("a")
    assert world.starts["a"] == 1  # the next on_start waits for the old on_stop
    assert not reply.done()

    world.stop_gate.set()
    assert await reply == (2, ["x"])  # incarnation 2 loaded what on_stop flushed


async def test_idle_check_can_veto_passivation(make_system: SystemFactory, world: World) -> None:
    world.idle_vetoes = 2
    system = make_system(idle_timeout=0.005)
    await system.tell("a", "x")
    await world.stop_entered.wait()
    await settle()
    assert not system.is_active("a")
    assert world.idle_checks == 3
    assert world.events[-1] == ("stop", "a", "passivated")


async def test_explicit_passivate_drains_then_stops(
    make_system: SystemFactory, world: World
) -> None:
    system = make_system()
    await system.passivate("nobody")
    await system.tell("a", "x")
    await system.passivate("a")
    assert not system.is_active("a")
    assert world.events == [("handled", "a", "x"), ("stop", "a", "passivated")]
    assert world.store["a"] == ["x"]


async def test_registries_are_rebuilt_small_after_a_passivation_wave(
    make_system: SystemFactory, world: World
) -> None:
    system = make_system()
    keys = [f"k{n}" for n in range(2000)]
    for key in keys:
        await system.tell(key, "x")
    cells, tasks = system._cells, system._tasks
    peak_size = sys.getsizeof(cells), sys.getsizeof(tasks)
    await asyncio.gather(*(system.passivate(key) for key in keys[:1900]))
    await settle()
    assert system.active_count() == 100
    assert system._cells is not cells and system._tasks is not tasks
    assert sys.getsizeof(system._cells) < peak_size[0] / 2
    assert sys.getsizeof(system._tasks) < peak_size[1] / 2
    assert set(system._cells) == set(keys[1900:])
    assert await system.ask("k1", "state") == (2, ["x"])  # reactivates from what it flushed
    assert await system.ask("k1999", "state") == (1, ["x"])


async def test_an_idle_actor_keeps_no_reference_to_its_last_message() -> None:
    class Quiet(Actor):
        async def handle_call(self, message: Any) -> Any:
            return None

        async def handle_cast(self, message: Any) -> None:
            return None

    class Message:
        pass

    async with ActorSystem("quiet", lambda key: Quiet(), ActorSpec(idle_timeout=None)) as system:
        message = Message()
        gone = weakref.ref(message)
        await system.ask("a", message)
        del message
        await settle()
        assert system.is_active("a")
        assert gone() is None


# -- 6. graceful shutdown --------------------------------------------------------------------


async def test_shutdown_drains_mailboxes_before_on_stop_and_refuses_new_messages(
    make_system: SystemFactory, world: World
) -> None:
    system = make_system()
    block, entered, gate = blocker()
    await system.tell("a", block)
    await entered.wait()
    for n in (1, 2, 3):
        await system.tell("a", n)
    await system.tell("b", 4)

    stopping = asyncio.create_task(system.shutdown())
    await settle()
    with pytest.raises(ActorSystemClosed):
        await system.tell("a", 5)
    with pytest.raises(ActorSystemClosed):
        await system.ask("c", 6)

    gate.set()
    await stopping
    a_events = [(kind, what) for kind, key, what in world.events if key == "a"]
    assert a_events == [("handled", 1), ("handled", 2), ("handled", 3), ("stop", "shutdown")]
    assert ("stop", "b", "shutdown") in world.events
    assert system.active_count() == 0


async def test_shutdown_cancels_stragglers_at_timeout(
    make_system: SystemFactory, world: World
) -> None:
    system = make_system()
    block, entered, _never = blocker()
    in_flight = asyncio.create_task(system.ask("a", block))
    await entered.wait()
    queued = asyncio.create_task(system.ask("a", "x"))
    await settle()

    await system.shutdown(timeout=0.01)

    for asker in (in_flight, queued):
        with pytest.raises(ActorSystemClosed):
            await asker
    assert world.events == []  # killed, not stopped: its state is not trusted
    assert system.active_count() == 0


# -- 7. task ownership and cancellation ------------------------------------------------------


async def test_runner_tasks_are_owned_and_all_finish_on_shutdown(
    make_system: SystemFactory,
) -> None:
    before = asyncio.all_tasks()
    system = make_system(idle_timeout=0.01)
    for key in ("a", "b", "c"):
        await system.tell(key, "x")
    assert len(system._tasks) == 3
    assert asyncio.all_tasks() - before == system._tasks

    await system.shutdown()
    assert system._tasks == set()
    assert asyncio.all_tasks() == before


async def test_cancelled_asker_does_not_disturb_the_actor(make_system: SystemFactory) -> None:
    system = make_system()
    block, entered, gate = blocker()
    asker = asyncio.create_task(system.ask("a", block))
    await entered.wait()
    asker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asker
    gate.set()
    assert await system.ask("a", "after") == "after"


# -- 8. one message at a time per key, keys concurrent ---------------------------------------


async def test_one_message_at_a_time_per_key(make_system: SystemFactory, world: World) -> None:
    system = make_system()
    await asyncio.gather(*(system.tell("a", n) for n in range(20)))
    assert await system.ask("a", "state") == (1, list(range(20)))
    assert world.max_running["a"] == 1


async def test_different_keys_run_concurrently(make_system: SystemFactory) -> None:
    system = make_system()
    block_a, entered_a, gate_a = blocker()
    block_b, entered_b, gate_b = blocker()
    await system.tell("a", block_a)
    await system.tell("b", block_b)
    await entered_a.wait()
    await entered_b.wait()  # both handlers are inside at once
    assert await system.ask("c", "free") == "free"
    gate_a.set()
    gate_b.set()
