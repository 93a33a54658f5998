"""Email intake: one long-lived IMAP session per active email account (aioimaplib).

Lifecycle of a session (one supervised task per account, owned by `EmailIntakes`):
connect -> LOGIN -> SELECT INBOX -> import what is new by UID -> IDLE until the server pushes
EXISTS (or NOOP polling when the server lacks IDLE) -> import -> IDLE again. IDLE is renewed
every `idle_renew` seconds, well before the 29-minute limit of RFC 2177, which also proves the
connection alive. Any failure closes the connection and the loop reconnects with exponential
backoff; a refused login puts the account in status Error with the server's reason (never the
password), and the first good login puts it back to Active.

Durable position: `ChannelAccount.sync_state["imap"] = {uidvalidity, last_uid, synced_at}`,
written through the account's actor after each message. A restart resumes after `last_uid`
(nothing re-imported, nothing missed); a new account starts at the mailbox's end; a changed
UIDVALIDITY (RFC 3501 2.3.1.1) re-reads the mailbox from a day before the last sync, and the
store's unique (account, Message-ID) index keeps what was already imported from being stored
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aioimaplib
import structlog

from server.blobs import BlobStore
from server.domain.errors import DomainError, Unavailable
from server.domain.models import AccountStatus, ChannelAccount, ChannelKind
from server.store.base import Store
from server.transports.base import Inbound
from server.transports.email.config import EmailConfig, scrub
from server.transports.email.mime_parse import MAX_ATTACHMENT_BYTES, MimeError, parse_email

log = structlog.get_logger(__name__)

IDLE_RENEW = 600.0  # seconds; RFC 2177 servers may drop an IDLE after 30 minutes
POLL_EVERY = 30.0  # without IDLE
COMMAND_TIMEOUT = 30.0
MAX_MESSAGE_BYTES = 40 * 1_048_576
BACKOFF_MAX = 300.0
AUTH_BACKOFF_MIN = 60.0  # a refused login is retried slowly: providers lock hammered accounts
ERROR_AFTER_FAILURES = 3  # consecutive connection failures before the account shows Error
NOT_OWNER_RETRY = 30.0  # cluster: another node holds the account
MAX_TRIES = 3  # a message whose import fails this often is skipped (logged), not retried forever
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")
_TRANSIENT_LOGIN = (b"[UNAVAILABLE]", b"[SERVERBUG]", b"[INUSE]")


class AuthFailed(Exception):
    """The IMAP server refused the login (wrong password, account locked...)."""


class ImapFailure(Exception):
    """The server answered something other than OK."""


@dataclass(slots=True)
class IntakeDeps:
    store: Store
    blobs: BlobStore
    deliver: Callable[[str, Inbound], Awaitable[Any]]  # account id, message (workspace.intake)
    save_state: Callable[[str, dict[str, Any]], Awaitable[Any]]  # through the account's actor
    set_status: Callable[[str, AccountStatus, str], Awaitable[Any]]
    may_run: Callable[[str], Awaitable[bool]] | None = None  # cluster: one node per account
    idle_renew: float = IDLE_RENEW
    poll_every: float = POLL_EVERY
    command_timeout: float = COMMAND_TIMEOUT
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_attachment: int = MAX_ATTACHMENT_BYTES


def _text(lines: list[Any]) -> str:
    parts = [bytes(line).decode(errors="replace") for line in lines if isinstance(line, bytes)]
    return " ".join(" ".join(parts).split())[:300]


class Connection:
    """An IMAP connection: aioimaplib plus a 'connection lost' flag and checked answers."""

    def __init__(self, config: EmailConfig, timeout: float) -> None:
        self.config = config
        self.lost = asyncio.Event()
        self.idling = False  # IDLE sent and DONE not yet: DONE must go exactly once
        context = ssl.create_default_context() if config.imap_security == "tls" else None
        self.client = aioimaplib.IMAP4(
            host=config.imap_host,
            port=config.imap_port,
            timeout=timeout,
            conn_lost_cb=lambda _exc: self.lost.set(),
            ssl_context=context,
        )

    async def open(self) -> None:
        await self.client.wait_hello_from_server()
        response = await self.client.login(self.config.username, self.config.password)
        if response.result != "OK":
            reason = scrub(_text(response.lines), self.config.password) or response.result
            if any(marker in line for line in response.lines for marker in _TRANSIENT_LOGIN):
                raise ImapFailure(f"login deferred: {reason}")
            raise AuthFailed(f"IMAP login failed for {self.config.username}: {reason}")

    async def check(self, call: Awaitable[Any], what: str) -> Any:
        response = await call
        if response.result != "OK":
            reason = scrub(_text(response.lines), self.config.password)
            raise ImapFailure(f"{what} failed: {response.result} {reason}")
        return response

    def stop_idle(self) -> None:
        if self.idling:
            self.idling = False
            self.client.idle_done()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop_idle()
            await asyncio.wait_for(self.client.logout(), 5.0)
        transport = getattr(self.client.protocol, "transport", None)
        if transport is not None:
            transport.close()


async def check_imap(config: EmailConfig, timeout: float = 15.0) -> str | None:
    """Log in and open INBOX; None when it works, else the reason (password scrubbed)."""
    connection = Connection(config, timeout)
    try:
        await connection.open()
        await connection.check(connection.client.select("INBOX"), "SELECT INBOX")
        return None
    except (AuthFailed, ImapFailure) as exc:
        return str(exc)
    except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
        return scrub(f"IMAP server unreachable: {type(exc).__name__}: {exc}", config.password)
    finally:
        await connection.close()


class ImapSession:
    """One connection's life: sync, then wait for news, until something breaks."""

    def __init__(
        self,
        account: ChannelAccount,
        deps: IntakeDeps,
        on_ready: Callable[[], Awaitable[None]],
        tries: dict[int, int] | None = None,
    ) -> None:
        self.tries = tries if tries is not None else {}  # failed imports by UID
        self.account_id = account.id
        self.config = EmailConfig.from_account(account)
        self.state: dict[str, Any] = dict(account.sync_state.get("imap") or {})
        self.deps = deps
        self.on_ready = on_ready
        self.connection = Connection(self.config, deps.command_timeout)

    async def run(self) -> None:
        connection = self.connection
        try:
            await connection.open()
            selected = await connection.check(connection.client.select("INBOX"), "SELECT INBOX")
            await self._start_position(selected.lines)
            await self.on_ready()
            idle = connection.client.has_capability("IDLE")
            if not idle:
                log.info(
                    "email.no_idle", account_id=self.account_id, poll_every=self.deps.poll_every
                )
            while True:
                await self._import_new()
                if self.deps.may_run is not None and not await self.deps.may_run(self.account_id):
                    log.info("email.handed_over", account_id=self.account_id)
                    return
                if idle:
                    await self._idle()
                else:
                    await self._poll()
        finally:
            await connection.close()

    # ------------------------------------------------------------------ position
    async def _start_position(self, lines: list[Any]) -> None:
        joined = b" ".join(bytes(x) for x in lines if isinstance(x, bytes | bytearray))
        match = _UIDVALIDITY.search(joined)
        if match is None:
            raise ImapFailure("SELECT INBOX gave no UIDVALIDITY")
        uidvalidity = int(match.group(1))
        known = self.state.get("uidvalidity")
        if known == uidvalidity:
            return
        if known is None:
            # A new account starts at the mailbox's end: older mail is not imported.
            next_match = _UIDNEXT.search(joined)
            last = (
                int(next_match.group(1)) - 1
                if next_match
                else max(await self._search("ALL"), default=0)
            )
            log.info("email.sync_started", account_id=self.account_id, last_uid=last)
            await self._save(uidvalidity, last)
            return
        # The stored UIDs mean nothing now: read back from a day before the last sync; the
        # unique Message-ID index stores each message once.
        since = datetime.fromtimestamp(
            float(self.state.get("synced_at") or time.time()) - 86_400, UTC
        )
        log.warning(
            "email.uidvalidity_changed", account_id=self.account_id, old=known, new=uidvalidity
        )
        uids = sorted(await self._search("SINCE", since.strftime("%d-%b-%Y")))
        await self._save(uidvalidity, 0)
        await self._import(uids)

    async def _save(self, uidvalidity: int, last_uid: int) -> None:
        self.state = {"uidvalidity": uidvalidity, "last_uid": last_uid, "synced_at": time.time()}
        await self.deps.save_state(self.account_id, dict(self.state))

    # ------------------------------------------------------------------ import
    async def _search(self, *criteria: str) -> list[int]:
        response = await self.connection.check(
            self.connection.client.uid_search(*criteria, charset=None), "UID SEARCH"
        )
        found: list[int] = []
        for line in response.lines[:-1]:
            found.extend(int(token) for token in bytes(line).split() if token.isdigit())
        return found

    async def _import_new(self) -> None:
        last = int(self.state.get("last_uid", 0))
        uids = sorted(uid for uid in await self._search("UID", f"{last + 1}:*") if uid > last)
        await self._import(uids)

    async def _import(self, uids: list[int]) -> None:
        for uid in uids:
            if uid <= int(self.state.get("last_uid", 0)):
                continue
            if self.tries.get(uid, 0) >= MAX_TRIES:
                log.error(
                    "email.refused",
                    account_id=self.account_id,
                    uid=uid,
                    reason=f"import failed {MAX_TRIES} times: skipped, the mailbox keeps it",
                )
            else:
                try:
                    await self._import_one(uid)
                except Exception:
                    self.tries[uid] = self.tries.get(uid, 0) + 1
                    raise
            self.tries.pop(uid, None)
            await self._save(int(self.state["uidvalidity"]), uid)

    async def _import_one(self, uid: int) -> None:
        client = self.connection.client
        sized = await self.connection.check(client.uid("fetch", str(uid), "(RFC822.SIZE)"), "FETCH")
        size = _size(sized.lines)
        if size is None:
            log.info("email.vanished", account_id=self.account_id, uid=uid)  # expunged meanwhile
            return
        if size > self.deps.max_message_bytes:
            log.warning(
                "email.refused",
                account_id=self.account_id,
                uid=uid,
                reason=f"message of {size} bytes over the {self.deps.max_message_bytes} byte limit",
            )
            return
        fetched = await self.connection.check(
            client.uid("fetch", str(uid), "(BODY.PEEK[])"), "FETCH"
        )
        raw = next((bytes(x) for x in fetched.lines if isinstance(x, bytearray)), None)
        if raw is None:
            log.info("email.vanished", account_id=self.account_id, uid=uid)
            return
        await self._deliver(uid, raw)

    async def _deliver(self, uid: int, raw: bytes) -> None:
        try:
            parsed = parse_email(raw, max_attachment=self.deps.max_attachment)
        except MimeError as exc:
            log.warning("email.refused", account_id=self.account_id, uid=uid, reason=str(exc))
            return
        if parsed.from_address == self.config.address:
            log.info("email.own_message_skipped", account_id=self.account_id, uid=uid)
            return
        if await self.deps.store.message_by_provider_id(self.account_id, parsed.message_id):
            log.info("email.duplicate", account_id=self.account_id, uid=uid)
            return
        attachments = [
            await self.deps.blobs.put(item.data, item.filename, item.content_type)
            for item in parsed.attachments
        ]
        text = parsed.text
        if not text.strip() and not parsed.html.strip() and not attachments:
            text = "(empty email)"
        inbound = Inbound(
            provider_message_id=parsed.message_id,
            handle=parsed.from_address,
            name=parsed.from_name,
            email=parsed.from_address,
            text=text,
            html=parsed.html,
            subject=parsed.subject,
            attachments=tuple(attachments),
            thread_ids=tuple(parsed.thread_ids),
        )
        try:
            await self.deps.deliver(self.account_id, inbound)
        except Unavailable:
            raise  # busy or paused: the session ends and the message is fetched again later
        except DomainError as refusal:
            log.warning(
                "email.refused", account_id=self.account_id, uid=uid, reason=refusal.message
            )
            return
        if parsed.problems:
            log.warning(
                "email.imported_with_problems",
                account_id=self.account_id,
                uid=uid,
                problems=parsed.problems,
            )

    # ------------------------------------------------------------------ waiting
    async def _idle(self) -> None:
        client, lost = self.connection.client, self.connection.lost
        idle = await asyncio.wait_for(
            client.idle_start(timeout=self.deps.idle_renew), self.deps.command_timeout
        )
        self.connection.idling = True
        try:
            while True:
                push = asyncio.ensure_future(
                    client.wait_server_push(timeout=self.deps.idle_renew + 30)
                )
                gone = asyncio.ensure_future(lost.wait())
                done, _ = await asyncio.wait({push, gone}, return_when=asyncio.FIRST_COMPLETED)
                gone.cancel()
                if push not in done:
                    push.cancel()
                    raise ImapFailure("connection lost while idling")
                lines = push.result()
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break  # time to renew the IDLE
                if any(
                    b"EXISTS" in bytes(line)
                    for line in lines
                    if isinstance(line, bytes | bytearray)
                ):
                    break
        finally:
            self.connection.stop_idle()
        await asyncio.wait_for(idle, self.deps.command_timeout)

    async def _poll(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connection.lost.wait(), self.deps.poll_every)
        if self.connection.lost.is_set():
            raise ImapFailure("connection lost")
        await self.connection.check(self.connection.client.noop(), "NOOP")


def _size(lines: list[Any]) -> int | None:
    for line in lines:
        if isinstance(line, bytes | bytearray):
            match = _SIZE.search(bytes(line))
            if match:
                return int(match.group(2) or match.group(3))
    return None


class EmailIntakes:
    """Owns the IMAP session task of every active email account; `sync` (re)starts or stops
    one when its account changes."""

    def __init__(self, deps: IntakeDeps) -> None:
        self.deps = deps
        self._tasks: dict[str, tuple[tuple[Any, ...], asyncio.Task[None]]] = {}
        self._closed = False

    def start(self, accounts: list[ChannelAccount]) -> None:
        for account in accounts:
            self.sync(account)

    async def account_saved(self, account: ChannelAccount) -> None:
        self.sync(account)

    def sync(self, account: ChannelAccount) -> None:
        wanted = (
            account.kind == ChannelKind.EMAIL
            and account.status != AccountStatus.PAUSED
            and not self._closed
        )
        fingerprint = EmailConfig.from_account(account).fingerprint() if wanted else None
        current = self._tasks.get(account.id)
        if current is not None and current[0] == fingerprint:
            return
        previous = None
        if current is not None:
            previous = current[1]
            previous.cancel()
            del self._tasks[account.id]
        if fingerprint is not None:
            task = asyncio.get_running_loop().create_task(
                self._supervise(account.id, previous), name=f"imap:{account.id}"
            )
            self._tasks[account.id] = (fingerprint, task)

    def running(self) -> list[str]:
        return list(self._tasks)

    async def aclose(self) -> None:
        self._closed = True
        tasks = [task for _, task in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10.0)

    async def _supervise(self, account_id: str, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            with contextlib.suppress(BaseException):
                await previous  # one connection per account, never two
        failures = 0
        tries: dict[int, int] = {}
        while True:
            account = await self.deps.store.get(ChannelAccount, account_id)
            if (
                account is None
                or account.kind != ChannelKind.EMAIL
                or account.status == AccountStatus.PAUSED
            ):
                return
            if self.deps.may_run is not None and not await self.deps.may_run(account_id):
                await asyncio.sleep(NOT_OWNER_RETRY)
                continue

            async def ready(account: ChannelAccount = account) -> None:
                nonlocal failures
                failures = 0
                if account.status == AccountStatus.ERROR:
                    log.info("email.connected_again", account_id=account_id)
                    await self.deps.set_status(account_id, AccountStatus.ACTIVE, "")

            session = ImapSession(account, self.deps, ready, tries)
            password = session.config.password
            try:
                await session.run()
                delay = 0.0
            except asyncio.CancelledError:
                raise
            except AuthFailed as exc:
                failures += 1
                reason = scrub(str(exc), password)
                log.warning("email.login_failed", account_id=account_id, reason=reason)
                if account.status_reason != reason:
                    await self.deps.set_status(account_id, AccountStatus.ERROR, reason)
                delay = min(BACKOFF_MAX * 3, AUTH_BACKOFF_MIN * 2 ** (failures - 1))
            except Exception as exc:
                failures += 1
                reason = scrub(_reason(exc), password)
                log.warning(
                    "email.disconnected", account_id=account_id, reason=reason, failures=failures
                )
                if failures >= ERROR_AFTER_FAILURES and account.status_reason != reason:
                    await self.deps.set_status(account_id, AccountStatus.ERROR, reason)
                delay = min(BACKOFF_MAX, 2.0 ** (failures - 1))
            await asyncio.sleep(delay)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ImapFailure):
        return f"IMAP: {exc}"
    if isinstance(exc, TimeoutError):
        return "IMAP server did not answer in time"
    if isinstance(exc, OSError):
        return f"IMAP server unreachable: {exc.strerror or exc}"
    return f"IMAP session failed: {type(exc).__name__}: {exc}"
