"""AccountActor: one per connected channel account. Owns the account's record and status and
turns a channel's sender handle into a contact and the conversation it belongs to.

Ids are derived from the handle (contact) and from (account, contact) (conversation), so two
messages of a new customer arriving at once, even on two nodes, name the same contact and the
same conversation; the conversation's single writer then orders them.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.actors.runtime import Actor
from server.domain.errors import NotFound, Unavailable
from server.domain.models import AccountStatus, ChannelAccount, Contact
from server.store.base import Store
from server.transports.base import Inbound

CONTACT_CACHE = 2048  # recently seen senders per account; a miss costs one indexed read
THREAD_LOOKUPS = 10  # referenced messages looked up to find the conversation an email answers


def contact_id_for(handle_key: str, handle: str) -> str:
    return "ct_" + hashlib.sha256(f"{handle_key}\0{handle}".encode()).hexdigest()[:24]


def conversation_id_for(account_id: str, contact_id: str) -> str:
    return "cnv_" + hashlib.sha256(f"{account_id}\0{contact_id}".encode()).hexdigest()[:24]


def handle_key(account: ChannelAccount) -> str:
    """Where a contact's handle on this account is kept in `Contact.handles`."""
    if account.kind == "api":
        return f"api:{account.id}"
    return str(account.kind)


@dataclass(frozen=True, slots=True)
class ResolveSender:
    inbound: Inbound


@dataclass(frozen=True, slots=True)
class ResolveRecipient:
    handle: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class SetAccountStatus:
    status: AccountStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Reload:
    pass


@dataclass(frozen=True, slots=True)
class SaveSyncState:
    """The channel intake's position (`ChannelAccount.sync_state[key]`)."""

    key: str
    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Resolved:
    account: ChannelAccount
    contact: Contact
    conversation_id: str


class AccountActor(Actor):
    def __init__(
        self,
        account_id: str,
        store: Store,
        on_change: Callable[[ChannelAccount], None],
    ) -> None:
        self.id = account_id
        self.store = store
        self.on_change = on_change
        self.account: ChannelAccount | None = None
        self.contacts: OrderedDict[str, Contact] = OrderedDict()

    async def on_start(self) -> None:
        self.account = await self.store.get(ChannelAccount, self.id)

    async def handle_cast(self, message: Any) -> None:
        await self.handle_call(message)

    async def handle_call(self, message: Any) -> Any:
        match message:
            case ResolveSender(inbound=inbound):
                account = self._active()
                contact = await self._contact(account, inbound.handle, inbound)
                own = conversation_id_for(account.id, contact.id)
                threaded = await self._thread(account, inbound.thread_ids)
                # Someone else answering in an existing thread (a colleague in Cc): the
                # conversation exists, so its first commit will not store them.
                if (
                    threaded is not None
                    and threaded != own
                    and await self.store.get(Contact, contact.id) is None
                ):
                    await self.store.put(contact)
                return Resolved(account, contact, threaded or own)
            case ResolveRecipient():
                account = self._known()
                contact = await self._contact(
                    account, message.handle, Inbound("", message.handle, name=message.name)
                )
                return Resolved(account, contact, conversation_id_for(account.id, contact.id))
            case SetAccountStatus():
                account = self._known()
                account.status, account.status_reason = message.status, message.reason
                await self.store.put(account)
                self.on_change(account)
                return account
            case SaveSyncState():
                # Read fresh: an admin's edit stored a moment ago must not be overwritten.
                account = await self.store.get(ChannelAccount, self.id) or self._known()
                account.sync_state = {**account.sync_state, message.key: message.value}
                await self.store.put(account)
                self.account = account
                return account
            case Reload():
                self.account = await self.store.get(ChannelAccount, self.id)
                self.contacts.clear()
                return self.account
        raise TypeError(f"unknown message {message!r}")

    def _known(self) -> ChannelAccount:
        if self.account is None:
            raise NotFound(f"No account {self.id}")
        return self.account

    def _active(self) -> ChannelAccount:
        account = self._known()
        if account.status == AccountStatus.PAUSED:
            raise Unavailable(f"Account {account.name} is paused", code="account_paused")
        return account

    async def _thread(self, account: ChannelAccount, thread_ids: tuple[str, ...]) -> str | None:
        """The conversation of the first stored message among those an inbound one answers."""
        for ref in thread_ids[:THREAD_LOOKUPS]:
            message = await self.store.message_by_provider_id(account.id, ref)
            if message is None and ref.startswith("msg_"):
                # Our own Message-ID (<message id>@domain), before its send was reported.
                candidate = await self.store.message(ref.split("@", 1)[0])
                if candidate is not None and candidate.account_id == account.id:
                    message = candidate
            if message is not None:
                return message.conversation_id
        return None

    async def _contact(self, account: ChannelAccount, handle: str, inbound: Inbound) -> Contact:
        key = handle_key(account)
        cached = self.contacts.get(handle)
        if cached is not None:
            self.contacts.move_to_end(handle)
            return cached
        contact = await self.store.contact_by_handle(key, handle)
        if contact is None:
            # Not written here: the conversation stores it in the same commit as its first
            # message, so resolving senders never waits on a write.
            contact = Contact(
                id=contact_id_for(key, handle),
                name=inbound.name or inbound.email or inbound.phone or handle,
                email=inbound.email,
                phone=inbound.phone,
                handles={key: handle},
            )
        self.contacts[handle] = contact
        if len(self.contacts) > CONTACT_CACHE:
            self.contacts.popitem(last=False)
        return contact
