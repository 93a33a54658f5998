"""WhatsApp groups on Meta's Cloud API: the Graph API calls and the service the HTTP routes and
the webhook call.

Graph API (bearer token, `{base}/{version}/...`):
- `GET /{phone-number-id}?fields=is_official_business_account,display_phone_number`: whether
  the number may host groups (Official Business Accounts only).
- `POST /{phone-number-id}/groups` `{messaging_product, subject, description,
  join_approval_mode}` -> `{request_id}`; the group id and invite link arrive later in the
  `group_lifecycle_update` webhook (`type=group_create`, same `request_id`).
- `GET|POST /{group-id}/invite_link` -> `{invite_link}` (POST resets it: the old one dies).
- `POST /{group-id}` `{messaging_product, subject?, description?}`: settings.
- `DELETE /{group-id}/participants` `{messaging_product, participants: [{user}]}`.
- `GET /{group-id}/join_requests` -> `{data: [{join_request_id, wa_id, creation_timestamp}]}`;
  `POST` approves, `DELETE` rejects `{messaging_product, join_requests: [ids]}`.
- `DELETE /{group-id}`: dissolve the group for everyone.
- Messages to a group: `POST /{phone-number-id}/messages` with `recipient_type=group` and the
  group id as `to` (cloud_api.CloudApi.send).

A group's conversation has a stand-in contact whose handles name it: `whatsapp_group_request`
(the create request id) from the start, `whatsapp_group` (the group id) once WhatsApp created
it. Webhooks find the conversation through them.

An agent's action goes to WhatsApp first; only once WhatsApp accepted it does the conversation
change (with a system line naming the agent). The webhook that confirms it later changes nothing
(`domain.groups.apply` is idempotent).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import structlog

from server.actors.account import contact_id_for, conversation_id_for
from server.domain import commands as c
from server.domain import groups as rules
from server.domain.errors import DomainError, Forbidden, Invalid, NotFound, Unavailable
from server.domain.groups import GroupChange
from server.domain.models import (
    ChannelAccount,
    ChannelKind,
    Contact,
    Conversation,
    Customer,
    GroupInfo,
    GroupJoinRequest,
    Role,
    User,
)
from server.transports.base import DeliveryError, Inbound
from server.transports.whatsapp import config
from server.transports.whatsapp.cloud_api import _auth, api_url, error_reason
from server.transports.whatsapp.http import delivery_error
from server.transports.whatsapp.parse import GroupUpdate
from server.workspace import Workspace

log = structlog.get_logger("server.whatsapp.groups")

REQUEST_HANDLE = "whatsapp_group_request"
GROUP_HANDLE = "whatsapp_group"
MAX_INVITES = 20  # recipients per invite request
PAGE = 20


class GraphGroups:
    """The Graph API's group endpoints for one HTTP client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _call(
        self,
        method: str,
        account: ChannelAccount,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        payload = {"messaging_product": "whatsapp", **body} if body is not None else None
        try:
            response = await self.client.request(
                method, api_url(account, path), headers=_auth(account), json=payload, params=params
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"WhatsApp unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        if response.status_code >= 300:
            raise delivery_error(response, error_reason(response))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryError("WhatsApp answered without a JSON object", retryable=True)
        return answer

    async def phone_info(self, account: ChannelAccount) -> dict[str, Any]:
        return await self._call(
            "GET",
            account,
            str(account.settings["phone_number_id"]),
            params={"fields": "is_official_business_account,display_phone_number"},
        )

    async def create(
        self, account: ChannelAccount, subject: str, description: str, join_approval: bool
    ) -> str:
        body: dict[str, Any] = {
            "subject": subject,
            "join_approval_mode": rules.JOIN_MODES[join_approval],
        }
        if description:
            body["description"] = description
        answer = await self._call(
            "POST", account, f"{account.settings['phone_number_id']}/groups", body=body
        )
        request_id = answer.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise DeliveryError("WhatsApp answered without a request id", retryable=False)
        return request_id

    async def invite_link(self, account: ChannelAccount, group_id: str, *, reset: bool) -> str:
        if reset:
            answer = await self._call("POST", account, f"{group_id}/invite_link", body={})
        else:
            answer = await self._call("GET", account, f"{group_id}/invite_link")
        link = answer.get("invite_link")
        if not isinstance(link, str) or not link.startswith("https://"):
            raise DeliveryError("WhatsApp answered without an invite link", retryable=False)
        return link

    async def update_settings(
        self, account: ChannelAccount, group_id: str, changes: dict[str, str]
    ) -> None:
        await self._call("POST", account, group_id, body=changes)

    async def remove_participants(
        self, account: ChannelAccount, group_id: str, wa_ids: list[str]
    ) -> None:
        participants = [{"user": wa_id} for wa_id in wa_ids]
        await self._call(
            "DELETE", account, f"{group_id}/participants", body={"participants": participants}
        )

    async def join_requests(self, account: ChannelAccount, group_id: str) -> list[dict[str, Any]]:
        answer = await self._call("GET", account, f"{group_id}/join_requests")
        data = answer.get("data")
        return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []

    async def answer_join_requests(
        self, account: ChannelAccount, group_id: str, ids: list[str], *, approve: bool
    ) -> None:
        method = "POST" if approve else "DELETE"
        await self._call(method, account, f"{group_id}/join_requests", body={"join_requests": ids})

    async def delete(self, account: ChannelAccount, group_id: str) -> None:
        await self._call("DELETE", account, group_id)


def _refused(what: str, error: DeliveryError) -> DomainError:
    """WhatsApp's refusal as the API's error: retryable ones are 503s."""
    log.warning("whatsapp.group_call_refused", what=what, reason=error.reason)
    if error.retryable:
        return Unavailable(f"WhatsApp could not {what} now: {error.reason}")
    return Invalid(f"WhatsApp refused to {what}: {error.reason}", code="whatsapp_refused")


class GroupService:
    def __init__(self, workspace: Workspace, graph: GraphGroups) -> None:
        self.workspace = workspace
        self.graph = graph

    # ------------------------------------------------------------------ reads
    def senders(self, user: User) -> list[ChannelAccount]:
        """The accounts whose numbers `user` may create groups on."""
        return [
            account
            for account in self.workspace.visible_accounts(user)
            if rules.eligible(account) and rules.can_manage(user, account)
        ]

    async def _group(
        self, user: User, conversation_id: str
    ) -> tuple[Conversation, ChannelAccount, GroupInfo]:
        conversation, account = await self.workspace.conversation_for(user, conversation_id)
        if conversation.group is None:
            raise Invalid("This conversation is not a WhatsApp group", code="not_a_group")
        return conversation, account, conversation.group

    async def _manageable(
        self, user: User, conversation_id: str
    ) -> tuple[Conversation, ChannelAccount, GroupInfo]:
        """A group `user` may manage and that exists at WhatsApp (checked before calling it;
        the conversation's actor checks again)."""
        conversation, account, group = await self._group(user, conversation_id)
        rules.check_manage(user, account)
        rules.check_live(group)
        return conversation, account, group

    async def _change(
        self, account: ChannelAccount, conversation_id: str, change: GroupChange, by: User | None
    ) -> Conversation:
        reply = await self.workspace.run_command(
            conversation_id, c.ChangeGroup(account=account, change=change, by=by)
        )
        return reply.conversation

    # ------------------------------------------------------------------ eligibility
    async def refresh_eligibility(self, user: User, account_id: str) -> ChannelAccount:
        """Admin: ask the Graph API whether the number is an Official Business Account."""
        if user.role != Role.ADMIN:
            raise Forbidden("Only admins can refresh an account's group eligibility")
        account = self.workspace.account(account_id)
        if account.kind != ChannelKind.WHATSAPP or account.settings.get("provider") != config.CLOUD:
            raise Invalid("Only Meta Cloud API accounts can host WhatsApp groups")
        try:
            info = await self.graph.phone_info(account)
        except DeliveryError as error:
            raise _refused("describe the phone number", error) from None
        stored = await self.workspace.store.get(ChannelAccount, account.id) or account
        settings = dict(stored.settings)
        settings["official_business_account"] = info.get("is_official_business_account") is True
        number = info.get("display_phone_number")
        if isinstance(number, str) and number.strip():
            settings["display_phone_number"] = number.strip()[:32]
        updated = dataclasses.replace(stored, settings=settings)
        await self.workspace.store.put(updated)
        await self.workspace.account_saved(updated)
        log.info(
            "whatsapp.group_eligibility",
            account_id=account.id,
            eligible=settings["official_business_account"],
        )
        return updated

    # ------------------------------------------------------------------ agent actions
    async def create(
        self,
        user: User,
        *,
        account_id: str,
        subject: Any,
        description: Any = "",
        join_approval: Any = False,
    ) -> Conversation:
        account = self.workspace.viewable_account(user, account_id)
        rules.check_manage(user, account)
        rules.check_eligible(account)
        clean_subject = rules.clean_subject(subject)
        clean_description = rules.clean_description(description)
        if not isinstance(join_approval, bool):
            raise Invalid("join_approval must be true or false")
        try:
            request_id = await self.graph.create(
                account, clean_subject, clean_description, join_approval
            )
        except DeliveryError as error:
            raise _refused("create the group", error) from None
        host = "".join(
            ch for ch in str(account.settings.get("display_phone_number", "")) if ch.isdigit()
        )
        group = rules.new_group(
            request_id=request_id,
            host_number=host,
            subject=clean_subject,
            description=clean_description,
            join_approval=join_approval,
            created_by=user.id,
        )
        contact = Contact(
            id=contact_id_for(REQUEST_HANDLE, request_id),
            name=clean_subject,
            handles={REQUEST_HANDLE: request_id},
        )
        conversation_id = conversation_id_for(account.id, contact.id)
        reply = await self.workspace.run_command(
            conversation_id, c.StartGroup(by=user, account=account, contact=contact, group=group)
        )
        log.info("whatsapp.group_requested", account_id=account.id, conversation_id=conversation_id)
        return reply.conversation

    async def update_settings(
        self, user: User, conversation_id: str, *, subject: Any = None, description: Any = None
    ) -> Conversation:
        _, account, group = await self._manageable(user, conversation_id)
        changes: dict[str, str] = {}
        if subject is not None:
            new_subject = rules.clean_subject(subject)
            if new_subject != group.subject:
                changes["subject"] = new_subject
        if description is not None:
            new_description = rules.clean_description(description)
            if new_description != group.description:
                changes["description"] = new_description
        if not changes:
            return (await self._group(user, conversation_id))[0]
        try:
            await self.graph.update_settings(account, group.group_id, changes)
        except DeliveryError as error:
            raise _refused("change the group", error) from None
        change = GroupChange(
            "settings", subject=changes.get("subject"), description=changes.get("description")
        )
        return await self._change(account, conversation_id, change, user)

    async def invite_link(self, user: User, conversation_id: str, *, reset: bool) -> Conversation:
        _, account, group = await self._manageable(user, conversation_id)
        try:
            link = await self.graph.invite_link(account, group.group_id, reset=reset)
        except DeliveryError as error:
            raise _refused("give the invite link", error) from None
        return await self._change(
            account, conversation_id, GroupChange("invite_link", invite_link=link), user
        )

    async def remove_participant(
        self, user: User, conversation_id: str, wa_id: str
    ) -> Conversation:
        _, account, group = await self._manageable(user, conversation_id)
        wa_id = wa_id.lstrip("+")
        member = next((p for p in group.participants if p.wa_id == wa_id), None)
        if member is None:
            raise NotFound(f"+{wa_id} is not in this group")
        if member.role == rules.HOST_ROLE and wa_id == group.host_number:
            raise Invalid("The host number cannot be removed: delete the group instead")
        try:
            await self.graph.remove_participants(account, group.group_id, [wa_id])
        except DeliveryError as error:
            raise _refused("remove the participant", error) from None
        change = GroupChange("removed", participants=((wa_id, member.name),))
        return await self._change(account, conversation_id, change, user)

    async def join_requests(self, user: User, conversation_id: str) -> Conversation:
        """Refresh the pending join requests from WhatsApp (names kept from the webhooks)."""
        _, account, group = await self._manageable(user, conversation_id)
        try:
            remote = await self.graph.join_requests(account, group.group_id)
        except DeliveryError as error:
            raise _refused("list the join requests", error) from None
        known = {r.id: r for r in group.join_requests}
        pending = []
        for item in remote[:100]:
            request_id, wa_id = str(item.get("join_request_id", "")), str(item.get("wa_id", ""))
            if not request_id or not wa_id:
                continue
            old = known.get(request_id)
            try:
                at = float(item.get("creation_timestamp") or 0)
            except (TypeError, ValueError):
                at = 0.0
            pending.append(
                GroupJoinRequest(request_id, wa_id.lstrip("+"), old.name if old else "", at)
            )
        change = GroupChange("join_requests", join_requests=tuple(pending))
        return await self._change(account, conversation_id, change, user)

    async def answer_join_request(
        self, user: User, conversation_id: str, request_id: str, *, approve: bool
    ) -> Conversation:
        _, account, group = await self._manageable(user, conversation_id)
        if not any(r.id == request_id for r in group.join_requests):
            raise NotFound("No such pending join request (it may have been answered already)")
        if approve:
            rules.check_room(group)
        try:
            await self.graph.answer_join_requests(
                account, group.group_id, [request_id], approve=approve
            )
        except DeliveryError as error:
            raise _refused("answer the join request", error) from None
        kind = "join_request_approved" if approve else "join_request_rejected"
        return await self._change(
            account, conversation_id, GroupChange(kind, join_request_id=request_id), user
        )

    async def delete(self, user: User, conversation_id: str) -> Conversation:
        _, account, group = await self._manageable(user, conversation_id)
        try:
            await self.graph.delete(account, group.group_id)
        except DeliveryError as error:
            raise _refused("delete the group", error) from None
        return await self._change(account, conversation_id, GroupChange("deleted"), user)

    # ------------------------------------------------------------------ invitations
    async def invite(
        self,
        user: User,
        conversation_id: str,
        *,
        template_id: Any,
        phones: Any = (),
        conversation_ids: Any = (),
        template_params: Any = None,
    ) -> list[dict[str, Any]]:
        """Send the approved invite template with the group's link to each recipient in their
        private 1:1 thread. One recipient's refusal does not stop the others."""
        _, account, group = await self._manageable(user, conversation_id)
        if not isinstance(template_id, str) or not template_id:
            raise Invalid("Pick the approved invite template to send")
        if not isinstance(phones, list | tuple) or not isinstance(conversation_ids, list | tuple):
            raise Invalid("phones and conversation_ids must be lists")
        if not all(isinstance(x, str) for x in [*phones, *conversation_ids]):
            raise Invalid("phones and conversation_ids must be lists of strings")
        if not phones and not conversation_ids:
            raise Invalid("Add at least one phone number or conversation to invite")
        if len(phones) + len(conversation_ids) > MAX_INVITES:
            raise Invalid(f"Invite at most {MAX_INVITES} people at once")
        if template_params is not None and not isinstance(template_params, dict):
            raise Invalid("template_params must be an object")
        rules.check_room(group)
        if not group.invite_link:
            raise Invalid("The group has no invite link yet: refresh it first")
        params = {
            **{str(k): str(v) for k, v in (template_params or {}).items()},
            "invite_link": group.invite_link,
            "group_subject": group.subject,
        }
        results: list[dict[str, Any]] = []
        for phone in phones:
            entry: dict[str, Any] = {"to": phone}
            try:
                sent = await self.workspace.start_conversation(
                    user,
                    account_id=account.id,
                    to=phone,
                    text="",
                    template_id=template_id,
                    template_params=params,
                )
                entry.update(ok=True, conversation_id=sent["conversation"]["id"])
            except DomainError as refusal:
                entry.update(ok=False, error={"code": refusal.code, "message": refusal.message})
            results.append(entry)
        for other_id in conversation_ids:
            entry = {"conversation_id": other_id}
            try:
                other, other_account = await self.workspace.conversation_for(user, other_id)
                if other.group is not None or other_account.id != account.id:
                    raise Invalid(
                        "Invites go to 1:1 WhatsApp conversations on the group's number",
                        code="not_a_private_thread",
                    )
                await self.workspace.post_message(
                    user, other_id, text="", template_id=template_id, template_params=params
                )
                entry["ok"] = True
            except DomainError as refusal:
                entry.update(ok=False, error={"code": refusal.code, "message": refusal.message})
            results.append(entry)
        log.info(
            "whatsapp.group_invites",
            conversation_id=conversation_id,
            sent=sum(1 for r in results if r["ok"]),
            refused=sum(1 for r in results if not r["ok"]),
        )
        return results

    async def invite_candidates(
        self, user: User, conversation_id: str, *, query: str = "", cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """1:1 WhatsApp conversations on the group's number, by contact name or number, a page
        at a time (`cursor`: where the next page starts)."""
        _, account, _ = await self._group(user, conversation_id)
        store = self.workspace.store
        query = query.strip()[:128]
        rows: list[dict[str, Any]] = []
        if not query:
            after = _decode_cursor(cursor)
            next_after: tuple[float, str] | None = after
            while len(rows) < PAGE:
                page, next_after = await self.workspace.list_conversations(
                    user, account_id=account.id, after=next_after, limit=PAGE
                )
                for conversation in page:
                    if conversation.group is None:
                        row = await self._candidate(conversation)
                        if row is not None:
                            rows.append(row)
                if next_after is None:
                    break
            return rows, _encode_cursor(next_after)
        offset = int(cursor) if cursor and cursor.isdigit() else 0
        contacts = await store.search_contacts(query, limit=200)
        matches = [ct for ct in contacts if ct.handles.get("whatsapp")]
        for contact in matches[offset : offset + PAGE]:
            found = await store.conversation(conversation_id_for(account.id, contact.id))
            if found is not None and found.group is None:
                row = await self._candidate(found, contact)
                if row is not None:
                    rows.append(row)
        more = offset + PAGE < len(matches)
        return rows, str(offset + PAGE) if more else None

    async def _candidate(
        self, conversation: Conversation, contact: Contact | None = None
    ) -> dict[str, Any] | None:
        contact = contact or await self.workspace.store.get(Contact, conversation.contact_id)
        if contact is None:
            return None
        return {
            "conversation_id": conversation.id,
            "name": contact.name,
            "phone": contact.handles.get("whatsapp") or contact.phone,
            "last_message_at": conversation.last_message_at,
        }

    async def recipients(self, user: User, query: str) -> list[dict[str, Any]]:
        """Autocomplete for typed numbers: contacts with a phone by name or number, and the
        contacts of customers or branches whose name matches."""
        query = query.strip()[:128]
        if not query:
            return []
        store = self.workspace.store
        out: dict[str, dict[str, Any]] = {}
        for contact in await store.search_contacts(query, limit=20):
            phone = contact.handles.get("whatsapp") or contact.phone
            if phone:
                out.setdefault(phone, {"phone": phone, "name": contact.name, "source": "contact"})
        for customer in await store.search_customers(query, limit=10):
            await self._customer_contacts(user, customer, query, out)
        return list(out.values())[:30]

    async def _customer_contacts(
        self, user: User, customer: Customer, query: str, out: dict[str, dict[str, Any]]
    ) -> None:
        branch_names = {b.id: b.name for b in customer.branches}
        page, _ = await self.workspace.list_conversations(
            user, channel="whatsapp", customer_id=customer.id, limit=20
        )
        for conversation in page:
            if conversation.group is not None:
                continue
            contact = await self.workspace.store.get(Contact, conversation.contact_id)
            phone = (contact.handles.get("whatsapp") or contact.phone) if contact else ""
            if not contact or not phone:
                continue
            branch = branch_names.get(conversation.branch_id or "")
            needle = query.lower()
            if branch and needle not in customer.name.lower() and needle in branch.lower():
                source = f"branch {branch} ({customer.name})"
            else:
                source = f"customer {customer.name}"
            out.setdefault(phone, {"phone": phone, "name": contact.name, "source": source})

    # ------------------------------------------------------------------ WhatsApp's word
    async def on_update(self, account: ChannelAccount, update: GroupUpdate) -> None:
        """One group webhook item: find its conversation and apply the change."""
        store = self.workspace.store
        change = update.change
        if change.kind in ("created", "create_failed"):
            contact = await store.contact_by_handle(REQUEST_HANDLE, update.request_id)
            if (
                contact is not None
                and change.kind == "created"
                and change.group_id
                and contact.handles.get(GROUP_HANDLE) != change.group_id
            ):
                contact.handles = {**contact.handles, GROUP_HANDLE: change.group_id}
                await store.put(contact)
        else:
            contact = await store.contact_by_handle(GROUP_HANDLE, change.group_id)
        if contact is None:
            # A group made elsewhere (another tool on the number): not ours to show.
            log.info("whatsapp.group_unknown", account_id=account.id, kind=change.kind)
            return
        conversation_id = conversation_id_for(account.id, contact.id)
        try:
            await self._change(account, conversation_id, change, None)
        except NotFound:
            log.info("whatsapp.group_unknown", account_id=account.id, kind=change.kind)
            return
        log.info("whatsapp.group_update", account_id=account.id, kind=change.kind)

    async def intake(self, account: ChannelAccount, group_id: str, inbound: Inbound) -> None:
        """A participant's message in a group: stored with who wrote it."""
        contact = await self.workspace.store.contact_by_handle(GROUP_HANDLE, group_id)
        if contact is None:
            log.info("whatsapp.group_message_unknown_group", account_id=account.id)
            return
        phone = inbound.phone or inbound.handle
        sender = Contact(
            id=contact_id_for("whatsapp", phone),
            name=inbound.name or phone,
            phone=phone,
            handles={"whatsapp": phone},
        )
        command = c.AppendInbound(
            account=account,
            contact=sender,
            provider_message_id=inbound.provider_message_id,
            text=inbound.text,
            attachments=inbound.attachments,
            data={"group_sender": {"phone": phone, "name": inbound.name}},
        )
        await self.workspace.intake_group(
            account, conversation_id_for(account.id, contact.id), command
        )


def _encode_cursor(after: tuple[float, str] | None) -> str | None:
    return f"{after[0]!r}:{after[1]}" if after else None


def _decode_cursor(raw: str | None) -> tuple[float, str] | None:
    if not raw:
        return None
    at, _, ident = raw.partition(":")
    try:
        return float(at), ident
    except ValueError:
        raise Invalid("cursor is not one this API gave") from None
