"""Who is online, and who is viewing which conversation.

A user with several tabs is one presence: online while any of their connections is. The
in-process implementation serves the embedded single-node mode; the cluster mode keeps the same
interface over Redis.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: str
    name: str


class Presence(Protocol):
    async def connect(self, user_id: str, sid: str) -> bool:
        """Register a connection; True when the user just came online."""

    async def disconnect(self, user_id: str, sid: str) -> tuple[bool, list[str]]:
        """Forget a connection; (went offline, conversations it was viewing)."""

    async def online(self) -> list[str]: ...

    async def view(self, conversation_id: str, viewer: Viewer, sid: str) -> list[Viewer]: ...

    async def unview(self, conversation_id: str, sid: str) -> list[Viewer]: ...

    async def viewers(self, conversation_id: str) -> list[Viewer]: ...


class LocalPresence:
    def __init__(self) -> None:
        self._sids: dict[str, set[str]] = defaultdict(set)
        self._viewing: dict[str, dict[str, Viewer]] = defaultdict(
            dict
        )  # conversation -> sid -> viewer
        self._viewed_by_sid: dict[str, set[str]] = defaultdict(set)

    async def connect(self, user_id: str, sid: str) -> bool:
        first = not self._sids[user_id]
        self._sids[user_id].add(sid)
        return first

    async def disconnect(self, user_id: str, sid: str) -> tuple[bool, list[str]]:
        sids = self._sids.get(user_id, set())
        sids.discard(sid)
        offline = not sids
        if offline:
            self._sids.pop(user_id, None)
        viewed = sorted(self._viewed_by_sid.pop(sid, set()))
        for conversation_id in viewed:
            self._drop(conversation_id, sid)
        return offline, viewed

    async def online(self) -> list[str]:
        return sorted(self._sids)

    async def view(self, conversation_id: str, viewer: Viewer, sid: str) -> list[Viewer]:
        self._viewing[conversation_id][sid] = viewer
        self._viewed_by_sid[sid].add(conversation_id)
        return await self.viewers(conversation_id)

    async def unview(self, conversation_id: str, sid: str) -> list[Viewer]:
        self._viewed_by_sid.get(sid, set()).discard(conversation_id)
        self._drop(conversation_id, sid)
        return await self.viewers(conversation_id)

    async def viewers(self, conversation_id: str) -> list[Viewer]:
        unique = {v.user_id: v for v in self._viewing.get(conversation_id, {}).values()}
        return sorted(unique.values(), key=lambda v: v.name)

    def _drop(self, conversation_id: str, sid: str) -> None:
        viewers = self._viewing.get(conversation_id)
        if viewers is not None:
            viewers.pop(sid, None)
            if not viewers:
                del self._viewing[conversation_id]
