"""Generic actor runtime: supervised, passivating, keyed actors. See `runtime` for the design."""

from server.actors.runtime import (
    Actor,
    ActorCrashed,
    ActorError,
    ActorEscalated,
    ActorRef,
    ActorSpec,
    ActorSystem,
    ActorSystemClosed,
    AskTimeout,
    StopReason,
)

__all__ = [
    "Actor",
    "ActorCrashed",
    "ActorError",
    "ActorEscalated",
    "ActorRef",
    "ActorSpec",
    "ActorSystem",
    "ActorSystemClosed",
    "AskTimeout",
    "StopReason",
]
