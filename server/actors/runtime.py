"""Generic actor runtime: gen_server-style callbacks, one-for-one supervision, passivation.

Shaped after Erlang/OTP behaviours and supervisors, and Trio's task ownership rules:

* `Actor` is the callback module (`on_start`, `handle_call`, `handle_cast`, `on_stop`). It knows
  nothing about mailboxes or restarts. `ActorSystem` is the generic part and owns every actor of
  one kind, keyed by string, like an OTP `simple_one_for_one` supervisor.

* Mailbox. Each active key has one cell holding a bounded `Mailbox` and one runner task. `tell()`
  (cast) and `ask()` (call, with a reply future) enqueue and wait while the mailbox is full, so a
  slow actor pushes back on its senders instead of growing memory. The runner handles one
  message at a time; different keys run concurrently.

* Supervision. The cell outlives its actor instances. When a callback raises, the asker of that
  message gets `ActorCrashed`, the instance is dropped, and after an exponential backoff a fresh
  instance is built by the factory and `on_start` reloads its state; messages queued behind the
  crash stay in the cell's mailbox and go to the new instance. More than `max_restarts` crashes
  within `restart_window` escalate: queued asks fail with `ActorEscalated`, `on_escalate` is
  called, and the key refuses traffic until `reset()` or `escalation_cooldown` passes.

* Passivation handoff. An actor idle for `idle_timeout` (found by one sweep per system, every
  quarter of `idle_timeout`, rather than a timer per actor and message: so after 1 to 1.25
  `idle_timeout`s), or drained after `passivate()`, runs
  `on_stop("passivated")` while its cell stays registered, so messages sent meanwhile land in
  the same mailbox. Only after `on_stop` returns does the runner look again: an empty mailbox
  retires the cell; otherwise the same runner starts the next instance, whose `on_start`
  therefore always sees what the previous `on_stop` flushed. The check and the retirement happen
  without an await in between, so no message can slip into a retired mailbox.

* Ownership. Runner tasks are created only here, kept in `ActorSystem._tasks` until they finish,
  and awaited or cancelled by `shutdown()`. `CancelledError` is never swallowed, and every await
  during stop is bounded by `stop_timeout`.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from server.actors.mailbox import Mailbox

log = structlog.get_logger(__name__)

StopReason = Literal["passivated", "shutdown", "escalated"]


class ActorError(Exception):
    """Base class of all runtime errors."""


class AskTimeout(ActorError, TimeoutError):
    """No reply within the ask timeout. The message may still be processed later."""


class ActorCrashed(ActorError):
    """The handler raised while processing this message; the actor is being restarted."""

    def __init__(self, key: str, cause: BaseException) -> None:
        super().__init__(f"actor {key!r} crashed: {cause!r}")
        self.key = key
        self.cause = cause
        self.__cause__ = cause


class ActorEscalated(ActorError):
    """The key exceeded its restart intensity and is failed until reset or cooldown."""

    def __init__(self, key: str, cause: BaseException) -> None:
        super().__init__(f"actor {key!r} escalated after repeated crashes: {cause!r}")
        self.key = key
        self.cause = cause


class ActorSystemClosed(ActorError):
    """The system is shutting down and accepts no new messages."""


class Actor(abc.ABC):
    """Callback module. One instance per incarnation; never called concurrently."""

    async def on_start(self) -> None:  # noqa: B027 - optional hook
        """Load state. Raising counts as a crash."""

    @abc.abstractmethod
    async def handle_call(self, message: Any) -> Any:
        """Handle an `ask()`; the return value is the reply."""

    @abc.abstractmethod
    async def handle_cast(self, message: Any) -> None:
        """Handle a `tell()`."""

    async def on_stop(self, reason: StopReason) -> None:  # noqa: B027 - optional hook
        """Flush state on an orderly stop. Bounded by `ActorSpec.stop_timeout`."""

    def on_idle_check(self) -> bool:
        """Return False to veto idle passivation for another `idle_timeout`."""
        return True


@dataclass(frozen=True)
class ActorSpec:
    """Per-kind settings, like an OTP child spec plus supervisor flags."""

    # Bounded so a stuck actor applies backpressure instead of buffering without limit.
    mailbox_size: int = 1000
    # Restart intensity: OTP's default is 1 in 5 s; actors here reload from storage cheaply, so
    # allow a few transient failures (e.g. a storage blip) before declaring the key broken.
    max_restarts: int = 5
    restart_window: float = 10.0
    # Doubled per consecutive crash (reset by a successfully handled message), capped so that a
    # recovered dependency is picked up within a couple of seconds.
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    # Five minutes keeps a conversation warm through a typical back-and-forth while bounding
    # memory held by abandoned ones. None disables passivation.
    idle_timeout: float | None = 300.0
    stop_timeout: float = 5.0
    # Long enough to stop a crash loop hammering storage, short enough to self-heal unattended.
    escalation_cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.mailbox_size < 1:
            raise ValueError("mailbox_size must be at least 1")
        if self.max_restarts < 0 or self.restart_window <= 0:
            raise ValueError("max_restarts must be >= 0 and restart_window > 0")

    def backoff(self, consecutive_crashes: int) -> float:
        """Delay before restarting after `consecutive_crashes` earlier crashes in a row."""
        return min(self.backoff_initial * 2.0**consecutive_crashes, self.backoff_max)


_DEFAULT_SPEC = ActorSpec()

# A dict or set keeps the table of its largest size until enough inserts rebuild it. After a
# wave of activations passivates, the registries are rebuilt once they hold less than a quarter
# of their peak (and the peak was big enough for the table to matter).
_SHRINK_FROM = 1024
_SHRINK_BELOW = 0.25
_IDLE_SWEEPS = 4  # per idle_timeout


@dataclass(frozen=True)
class ActorRef:
    """Address of one actor; cheap to create, starts nothing until used."""

    system: ActorSystem
    key: str

    async def tell(self, message: Any) -> None:
        await self.system.tell(self.key, message)

    async def ask(self, message: Any, timeout: float = 5.0) -> Any:
        return await self.system.ask(self.key, message, timeout=timeout)


@dataclass(slots=True)
class _Cast:
    message: Any


@dataclass(slots=True)
class _Call:
    message: Any
    reply: asyncio.Future[Any]


_Envelope = _Cast | _Call


class _Crash(Exception):
    """A callback raised; carries the user's exception to the supervision loop."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(eq=False, slots=True)
class _Cell:
    """Everything that survives restarts of one key: mailbox, runner task, crash history."""

    key: str
    mailbox: Mailbox[_Envelope]
    actor: Actor | None = None
    started: bool = False
    consecutive_crashes: int = 0
    crash_times: deque[float] | None = None  # created by the first crash
    passivate_requested: bool = False
    passivation_waiters: list[asyncio.Future[None]] | None = None
    idle_since: float = 0.0  # time.monotonic() when it last started waiting for a message
    idle_due: bool = False  # set by the idle sweep; the runner then asks on_idle_check


def _shrinkable(size: int, peak: int) -> bool:
    return peak >= _SHRINK_FROM and size < peak * _SHRINK_BELOW


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _reject(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class ActorSystem:
    """Supervisor owning all actors of one kind, activated on demand by key."""

    def __init__(
        self,
        name: str,
        factory: Callable[[str], Actor],
        spec: ActorSpec = _DEFAULT_SPEC,
        on_escalate: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.name = name
        self._factory = factory
        self._spec = spec
        self._on_escalate = on_escalate
        self._cells: dict[str, _Cell] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._cells_peak = 0
        self._tasks_peak = 0
        self._idle_sweep: asyncio.TimerHandle | None = None
        self._failed: dict[str, tuple[float, BaseException]] = {}
        self._closing = False

    async def __aenter__(self) -> ActorSystem:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    # -- public interface ------------------------------------------------------------------

    def ref(self, key: str) -> ActorRef:
        return ActorRef(self, key)

    async def tell(self, key: str, message: Any) -> None:
        """Enqueue a cast, activating the actor if needed; waits while its mailbox is full."""
        await self._deliver(key, _Cast(message))

    async def ask(self, key: str, message: Any, timeout: float = 5.0) -> Any:
        """Enqueue a call and wait for the reply; `timeout` covers enqueueing and handling.

        The timeout is part of the call contract (as in gen_server:call/3), not a generic
        deadline: an asker must never wait forever on a crashed or stuck actor.
        """
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                await self._deliver(key, _Call(message, reply))
                return await reply
        except TimeoutError:
            if deadline.expired():
                raise AskTimeout(f"{self.name}/{key}: no reply within {timeout}s") from None
            raise
        finally:
            # A reply that races the timeout must not be reported as "never retrieved".
            if reply.done() and not reply.cancelled():
                reply.exception()
            reply.cancel()

    def active_count(self) -> int:
        return len(self._cells)

    def is_active(self, key: str) -> bool:
        return key in self._cells

    def reset(self, key: str) -> None:
        """Clear an escalated key so the next message activates it again."""
        self._failed.pop(key, None)

    async def passivate(self, key: str) -> None:
        """Stop the actor once its mailbox is empty; returns after its on_stop has finished.

        Messages already queued are processed first (stopping earlier would only force an
        immediate reactivation). Under a steady stream this waits; callers set the deadline.
        """
        cell = self._cells.get(key)
        if cell is None:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if cell.passivation_waiters is None:
            cell.passivation_waiters = []
        cell.passivation_waiters.append(waiter)
        cell.passivate_requested = True
        cell.mailbox.wake()
        await waiter

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Refuse new messages, drain every mailbox, stop all actors; cancel them at `timeout`."""
        self._closing = True
        if self._idle_sweep is not None:
            self._idle_sweep.cancel()
            self._idle_sweep = None
        for cell in self._cells.values():
            cell.mailbox.wake()
        tasks = set(self._tasks)
        if not tasks:
            return
        try:
            _, stragglers = await asyncio.wait(tasks, timeout=timeout)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        if not stragglers:
            return
        log.warning("actor_system.cancelling_stragglers", system=self.name, count=len(stragglers))
        for task in stragglers:
            task.cancel()
        # Runners clean up synchronously on cancel, so only a handler that swallows
        # CancelledError can still be running after this bound.
        _, stuck = await asyncio.wait(stragglers, timeout=self._spec.stop_timeout)
        if stuck:
            log.error("actor_system.stuck_tasks", system=self.name, count=len(stuck))

    # -- delivery --------------------------------------------------------------------------

    async def _deliver(self, key: str, envelope: _Envelope) -> None:
        if self._closing:
            raise ActorSystemClosed(self.name)
        failure = self._failed.get(key)
        if failure is not None:
            failed_at, cause = failure
            if time.monotonic() - failed_at < self._spec.escalation_cooldown:
                raise ActorEscalated(key, cause)
            del self._failed[key]
        cell = self._cells.get(key)
        if cell is None:
            cell = self._spawn(key)
        await cell.mailbox.put(envelope)

    def _spawn(self, key: str) -> _Cell:
        cell = _Cell(key, Mailbox(self._spec.mailbox_size))
        self._cells[key] = cell
        self._cells_peak = max(self._cells_peak, len(self._cells))
        task = asyncio.get_running_loop().create_task(
            self._supervise(cell), name=f"actor:{self.name}:{key}"
        )
        self._tasks.add(task)
        self._tasks_peak = max(self._tasks_peak, len(self._tasks))
        task.add_done_callback(self._task_done)
        if self._idle_sweep is None and self._spec.idle_timeout is not None:
            self._schedule_idle_sweep(self._spec.idle_timeout)
        return cell

    def _schedule_idle_sweep(self, idle_timeout: float) -> None:
        self._idle_sweep = asyncio.get_running_loop().call_later(
            idle_timeout / _IDLE_SWEEPS, self._sweep_idle, idle_timeout
        )

    def _sweep_idle(self, idle_timeout: float) -> None:
        self._idle_sweep = None
        if self._closing or not self._cells:
            return  # the next activation schedules it again
        now = time.monotonic()
        for cell in self._cells.values():
            if cell.mailbox.waiting() and now - cell.idle_since >= idle_timeout:
                cell.idle_due = True
                cell.mailbox.wake()
        self._schedule_idle_sweep(idle_timeout)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if _shrinkable(len(self._tasks), self._tasks_peak):
            self._tasks = set(self._tasks)
            self._tasks_peak = len(self._tasks)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("actor_system.runner_failed", system=self.name, exc_info=exc)

    # -- supervision -----------------------------------------------------------------------

    async def _supervise(self, cell: _Cell) -> None:
        """Runner task of one key: run incarnations until the key retires or escalates."""
        try:
            while True:
                try:
                    reason = await self._incarnation(cell)
                except _Crash as crash:
                    if self._intensity_exceeded(cell):
                        await self._escalate(cell, crash.cause)
                        return
                    delay = self._spec.backoff(cell.consecutive_crashes)
                    cell.consecutive_crashes += 1
                    log.warning(
                        "actor.crashed",
                        system=self.name,
                        key=cell.key,
                        restart_in=delay,
                        error=repr(crash.cause),
                    )
                    await asyncio.sleep(delay)
                    continue
                assert cell.actor is not None
                await self._stop_actor(cell.actor, reason)
                if reason == "passivated":
                    cell.passivate_requested = False
                    self._release_passivation_waiters(cell)
                # No await between this check and the retirement in `finally`: see module doc.
                if reason == "shutdown" or cell.mailbox.is_drained():
                    return
        finally:
            self._retire(cell, lambda: ActorSystemClosed(self.name))

    async def _incarnation(self, cell: _Cell) -> StopReason:
        """Start a fresh instance and serve messages until it should stop. Raises _Crash."""
        cell.actor, cell.started = None, False
        try:
            actor = cell.actor = self._factory(cell.key)
            await actor.on_start()
        except Exception as exc:
            raise _Crash(exc) from exc
        cell.started = True
        while True:
            if cell.mailbox.is_drained():
                if self._closing:
                    return "shutdown"
                if cell.passivate_requested:
                    return "passivated"
            cell.idle_since, cell.idle_due = time.monotonic(), False
            envelope = await cell.mailbox.get()
            if envelope is None and cell.idle_due:
                cell.idle_due = False
                try:
                    if actor.on_idle_check():
                        return "passivated"
                except Exception as exc:
                    raise _Crash(exc) from exc
                continue
            if envelope is not None:
                await self._dispatch(cell, actor, envelope)
                # Not kept while waiting for the next one: an idle actor would hold its last
                # command, reply future and reply (~1 KB per active conversation).
                envelope = None

    async def _dispatch(self, cell: _Cell, actor: Actor, envelope: _Envelope) -> None:
        try:
            if isinstance(envelope, _Call):
                _resolve(envelope.reply, await actor.handle_call(envelope.message))
            else:
                await actor.handle_cast(envelope.message)
        except asyncio.CancelledError:
            if isinstance(envelope, _Call):
                _reject(envelope.reply, ActorSystemClosed(self.name))
            raise
        except Exception as exc:
            if isinstance(envelope, _Call):
                _reject(envelope.reply, ActorCrashed(cell.key, exc))
            raise _Crash(exc) from exc
        cell.consecutive_crashes = 0

    def _intensity_exceeded(self, cell: _Cell) -> bool:
        now = time.monotonic()
        if cell.crash_times is None:
            cell.crash_times = deque()
        crash_times = cell.crash_times
        crash_times.append(now)
        while now - crash_times[0] > self._spec.restart_window:
            crash_times.popleft()
        return len(crash_times) > self._spec.max_restarts

    async def _escalate(self, cell: _Cell, cause: BaseException) -> None:
        key = cell.key
        self._failed[key] = (time.monotonic(), cause)
        self._close_mailbox(cell, lambda: ActorEscalated(key, cause))
        # The cell stays registered during on_stop so a reset() cannot start the next
        # incarnation before this one has flushed.
        if cell.started and cell.actor is not None:
            await self._stop_actor(cell.actor, "escalated")
        self._retire(cell, lambda: ActorEscalated(key, cause))
        log.error(
            "actor.escalated",
            system=self.name,
            key=key,
            restarts=len(cell.crash_times or ()) - 1,
            window=self._spec.restart_window,
            error=repr(cause),
            exc_info=cause,
        )
        if self._on_escalate is not None:
            try:
                self._on_escalate(key, cause)
            except Exception:
                log.exception("actor.on_escalate_failed", system=self.name, key=key)

    async def _stop_actor(self, actor: Actor, reason: StopReason) -> None:
        try:
            async with asyncio.timeout(self._spec.stop_timeout):
                await actor.on_stop(reason)
        except Exception:
            log.warning("actor.on_stop_failed", system=self.name, reason=reason, exc_info=True)

    def _retire(self, cell: _Cell, error: Callable[[], Exception]) -> None:
        """Unregister the cell and fail whatever was still addressed to it. Idempotent."""
        if self._cells.get(cell.key) is cell:
            del self._cells[cell.key]
            if _shrinkable(len(self._cells), self._cells_peak):
                self._cells = dict(self._cells)
                self._cells_peak = len(self._cells)
        self._close_mailbox(cell, error)
        self._release_passivation_waiters(cell)

    @staticmethod
    def _close_mailbox(cell: _Cell, error: Callable[[], Exception]) -> None:
        for envelope in cell.mailbox.close(error):
            if isinstance(envelope, _Call):
                _reject(envelope.reply, error())

    @staticmethod
    def _release_passivation_waiters(cell: _Cell) -> None:
        waiters, cell.passivation_waiters = cell.passivation_waiters or [], None
        for waiter in waiters:
            _resolve(waiter, None)
