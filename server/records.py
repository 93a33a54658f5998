"""Records the agents manage (users, teams, accounts, contacts, customers, tags, templates).

Validation is pure (the `_field` helpers and `clean_*` functions take a JSON object and return
checked values, raising `Invalid`); `Records` applies it and writes through the store, checking
who may write first. Admin-only writes raise `Forbidden`; unknown ids raise `NotFound`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson

from server.actors.runtime import ActorError
from server.domain import snooze
from server.domain.analysis import validate_settings as validate_assistant
from server.domain.assignment import validate_rules
from server.domain.business_hours import validate_auto_reply, validate_hours
from server.domain.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from server.domain.models import (
    AuthorizedUser,
    Branch,
    ChannelAccount,
    ChannelKind,
    Contact,
    Customer,
    Role,
    SendKey,
    Tag,
    Team,
    Template,
    TemplateType,
    User,
    new_id,
)
from server.domain.passwords import hash_password, verify_password
from server.store.base import Duplicate
from server.transports.email import config as email_config
from server.transports.whatsapp import config as whatsapp_config
from server.transports.whatsapp import templates_sync as whatsapp_templates
from server.workspace import Workspace

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

MAX_NAME = 200
MAX_TEXT = 65_536
MAX_LIST = 200
MAX_SETTINGS_BYTES = 16_384
SEARCH_LIMIT = 50
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,31}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_UNSET: Any = object()


# ---------------------------------------------------------------------------- pure checks
def _get(data: dict[str, Any], name: str) -> Any:
    return data.get(name, _UNSET)


def text_field(
    data: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    max_len: int = MAX_NAME,
    strip: bool = True,
    allow_empty: bool = False,
) -> str | None:
    """The string `data[name]`, or None when absent (and not required)."""
    value = _get(data, name)
    if value is _UNSET or (value is None and not required):
        if required:
            raise Invalid(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    if strip:
        value = value.strip()
    if not value and not allow_empty:
        raise Invalid(f"{name} must not be empty")
    if len(value) > max_len:
        raise Invalid(f"{name} must be at most {max_len} characters")
    return value


def bool_field(data: dict[str, Any], name: str) -> bool | None:
    value = _get(data, name)
    if value is _UNSET or value is None:
        return None
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false")
    return value


def enum_field(data: dict[str, Any], name: str, kind: Callable[[str], T]) -> T | None:
    value = _get(data, name)
    if value is _UNSET or value is None:
        return None
    choices = ", ".join(str(v) for v in kind)  # type: ignore[attr-defined]
    if not isinstance(value, str):
        raise Invalid(f"{name} must be one of {choices}")
    try:
        return kind(value)
    except ValueError:
        raise Invalid(f"{name} must be one of {choices}") from None


def id_list(data: dict[str, Any], name: str) -> list[str] | None:
    value = _get(data, name)
    if value is _UNSET or value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise Invalid(f"{name} must be a list of ids")
    if len(value) > MAX_LIST:
        raise Invalid(f"{name} may hold at most {MAX_LIST} ids")
    return list(dict.fromkeys(value))


def clean_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise Invalid(f"{value!r} is not a valid email address")
    return email


def clean_phone(value: str) -> str:
    phone = value.strip()
    if phone and not _PHONE.match(phone):
        raise Invalid(f"{value!r} is not a valid phone number")
    return phone


def clean_time_zone(value: str) -> str:
    snooze.zone(value)  # raises Invalid for an unknown zone
    return value


def clean_color(value: str) -> str:
    if not _COLOR.match(value):
        raise Invalid("color must look like #rrggbb")
    return value.lower()


def clean_labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid("labels must be a list of strings")
    labels = [v.strip() for v in value if v.strip()]
    if len(labels) > 20 or any(len(v) > 64 for v in labels):
        raise Invalid("At most 20 labels of at most 64 characters each")
    return list(dict.fromkeys(labels))


def clean_custom_fields(value: Any) -> dict[str, Any]:
    """A flat object of scalars (string, number, boolean, null)."""
    if not isinstance(value, dict):
        raise Invalid("custom_fields must be an object")
    if len(value) > 50:
        raise Invalid("custom_fields may hold at most 50 fields")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 64:
            raise Invalid("custom_fields names must be non-empty strings of at most 64 characters")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise Invalid(f"custom field {key!r} must be a string, number, boolean or null")
        if isinstance(item, str) and len(item) > 1000:
            raise Invalid(f"custom field {key!r} must be at most 1000 characters")
        out[key.strip()] = item
    return out


def clean_settings(value: Any) -> dict[str, Any]:
    """An account's non-secret settings: a JSON object of bounded size."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise Invalid("settings must be an object")
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        raise Invalid("settings must be plain JSON") from None
    if len(encoded) > MAX_SETTINGS_BYTES:
        raise Invalid(f"settings must be at most {MAX_SETTINGS_BYTES} bytes")
    if "assignment_rules" in value:
        value = {**value, "assignment_rules": validate_rules(value["assignment_rules"])}
    if value.get("business_hours") is not None:
        value = {**value, "business_hours": validate_hours(value["business_hours"])}
    if value.get("auto_reply") is not None:
        value = {**value, "auto_reply": validate_auto_reply(value["auto_reply"])}
    if value.get("assistant") is not None:
        value = {**value, "assistant": validate_assistant(value["assistant"])}
    url = value.get("webhook_url")
    if url not in (None, "") and (
        not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048
    ):
        raise Invalid("webhook_url must be an http(s) URL")
    return dict(value)


def clean_secrets(value: Any) -> dict[str, str | None]:
    """Secret values to set (a string) or remove (null), by name."""
    if not isinstance(value, dict):
        raise Invalid("secrets must be an object")
    out: dict[str, str | None] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise Invalid("secret names must be 1-64 letters, digits, '_', '.' or '-'")
        if item is not None and (not isinstance(item, str) or len(item) > 8192):
            raise Invalid(f"secret {key!r} must be a string of at most 8192 characters")
        out[key] = item
    return out


def clean_grants(value: Any) -> list[AuthorizedUser]:
    if not isinstance(value, list) or len(value) > 500:
        raise Invalid("authorized must be a list of grants")
    grants: dict[str, AuthorizedUser] = {}
    flags = ("handles_conversations", "can_reassign", "can_clear_assignment", "can_resolve_all")
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("user_id"), str):
            raise Invalid("Each grant needs a user_id")
        grant = AuthorizedUser(user_id=item["user_id"])
        for flag in (*flags, "auto_assign"):
            set_to = bool_field(item, flag)
            if set_to is not None:
                setattr(grant, flag, set_to)
        grants[grant.user_id] = grant
    return list(grants.values())


def clean_branches(value: Any, existing: list[Branch]) -> list[Branch]:
    """New branch list: entries with a known id keep it, entries without one get a new id."""
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise Invalid(f"branches must be a list of at most {MAX_LIST} branches")
    known = {b.id for b in existing}
    out: list[Branch] = []
    for item in value:
        if not isinstance(item, dict):
            raise Invalid("Each branch must be an object with a name")
        branch_id = item.get("id")
        if branch_id is not None and (not isinstance(branch_id, str) or branch_id not in known):
            raise NotFound(f"No branch {branch_id}")
        name = text_field(item, "name", required=True)
        address = text_field(item, "address", max_len=1000, allow_empty=True) or ""
        assert name is not None
        out.append(Branch(id=branch_id or new_id("br"), name=name, address=address))
    if len({b.id for b in out}) != len(out):
        raise Invalid("A branch is listed twice")
    return out


MIN_PASSWORD_LENGTH = 8


async def _hash(password: str) -> str:
    """Argon2 takes tens of milliseconds: off the event loop."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"The password must have at least {MIN_PASSWORD_LENGTH} characters")
    return await asyncio.to_thread(hash_password, password)


def _check_admin(user: User, what: str) -> None:
    if user.role != Role.ADMIN:
        raise Forbidden(f"Only admins can {what}")


def _announces(
    kind: str,
) -> Callable[
    [Callable[Concatenate[Records, P], Awaitable[R]]],
    Callable[Concatenate[Records, P], Awaitable[R]],
]:
    """After the write succeeds, tell every connected client that `kind` records changed."""

    def wrap(
        method: Callable[Concatenate[Records, P], Awaitable[R]],
    ) -> Callable[Concatenate[Records, P], Awaitable[R]]:
        async def run(records: Records, /, *args: P.args, **kwargs: P.kwargs) -> R:
            result = await method(records, *args, **kwargs)
            records.workspace.records_changed(kind)
            return result

        run.__doc__ = method.__doc__
        return run

    return wrap


# ---------------------------------------------------------------------------- records
class Records:
    """Checked writes of the managed records, through the workspace's store and caches."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.store = workspace.store

    # users ------------------------------------------------------------------------------
    @_announces("users")
    async def create_user(self, by: User, data: dict[str, Any]) -> User:
        _check_admin(by, "add users")
        email = text_field(data, "email", required=True, max_len=254)
        name = text_field(data, "name", required=True)
        password = _get(data, "password")
        if not isinstance(password, str):
            raise Invalid("password is required")
        assert email is not None and name is not None
        user = User(id=new_id("usr"), email=clean_email(email), name=name)
        self._apply_profile(user, data)
        role = enum_field(data, "role", Role)
        if role is not None:
            user.role = role
        can_manage = bool_field(data, "can_manage_groups")
        if can_manage is not None:
            user.can_manage_groups = can_manage
        user.password_hash = await _hash(password)
        await self._save_user(user)
        return user

    @_announces("users")
    async def update_user(self, by: User, user_id: str, data: dict[str, Any]) -> User:
        _check_admin(by, "change users")
        user = await self._user(user_id)
        email = text_field(data, "email", max_len=254)
        if email is not None:
            user.email = clean_email(email)
        name = text_field(data, "name")
        if name is not None:
            user.name = name
        self._apply_profile(user, data)
        role = enum_field(data, "role", Role)
        if role is not None and role != user.role:
            if user.role == Role.ADMIN and not await self._other_admin(user.id):
                raise Invalid("The workspace needs at least one admin")
            user.role = role
        can_manage = bool_field(data, "can_manage_groups")
        if can_manage is not None:
            user.can_manage_groups = can_manage
        password = _get(data, "password")
        if password is not _UNSET and password is not None:
            if not isinstance(password, str):
                raise Invalid("password must be a string")
            user.password_hash = await _hash(password)
            user.sessions_valid_from = time.time()  # a reset logs the user out everywhere
        await self._save_user(user)
        return user

    @_announces("users")
    async def update_me(
        self, me: User, data: dict[str, Any], current_token: str | None = None
    ) -> User:
        """Own profile. A new password ends every other session of the user; the one of
        `current_token` stays logged in."""
        unknown = set(data) - {"name", "time_zone", "send_key", "password", "current_password"}
        if unknown:
            raise Invalid(f"You cannot change {', '.join(sorted(unknown))} here")
        user = await self._user(me.id)
        name = text_field(data, "name")
        if name is not None:
            user.name = name
        self._apply_profile(user, data)
        password = _get(data, "password")
        if password is not _UNSET and password is not None:
            current = _get(data, "current_password")
            if not isinstance(password, str):
                raise Invalid("password must be a string")
            if not isinstance(current, str) or not await asyncio.to_thread(
                verify_password, user.password_hash, current
            ):
                raise Invalid("The current password is wrong")
            user.password_hash = await _hash(password)
            user.sessions_valid_from = time.time()
            if current_token:
                await self.workspace.renew_session(current_token, user.sessions_valid_from)
        await self._save_user(user)
        return user

    @staticmethod
    def _apply_profile(user: User, data: dict[str, Any]) -> None:
        time_zone = text_field(data, "time_zone", max_len=64)
        if time_zone is not None:
            user.time_zone = clean_time_zone(time_zone)
        send_key = enum_field(data, "send_key", SendKey)
        if send_key is not None:
            user.send_key = send_key

    async def _user(self, user_id: str) -> User:
        user = await self.store.get(User, user_id)
        if user is None:
            raise NotFound(f"No user {user_id}")
        return user

    async def _other_admin(self, user_id: str) -> bool:
        return any(u.role == Role.ADMIN and u.id != user_id for u in await self.store.all(User))

    async def _save_user(self, user: User) -> None:
        try:
            await self.store.put(user)
        except Duplicate:
            raise Conflict(f"A user with the email {user.email} already exists") from None
        self.workspace.remember_user(user)

    # teams ------------------------------------------------------------------------------
    @_announces("teams")
    async def create_team(self, by: User, data: dict[str, Any]) -> Team:
        _check_admin(by, "add teams")
        name = text_field(data, "name", required=True)
        assert name is not None
        team = Team(id=new_id("team"), name=name)
        team.member_ids = await self._members(data) or []
        await self.store.put(team)
        return team

    @_announces("teams")
    async def update_team(self, by: User, team_id: str, data: dict[str, Any]) -> Team:
        _check_admin(by, "change teams")
        team = await self.team(team_id)
        name = text_field(data, "name")
        if name is not None:
            team.name = name
        members = await self._members(data)
        if members is not None:
            team.member_ids = members
        await self.store.put(team)
        return team

    @_announces("teams")
    async def delete_team(self, by: User, team_id: str) -> None:
        _check_admin(by, "delete teams")
        await self.team(team_id)
        await self.store.delete(Team, team_id)

    async def team(self, team_id: str) -> Team:
        team = await self.store.get(Team, team_id)
        if team is None:
            raise NotFound(f"No team {team_id}")
        return team

    async def _members(self, data: dict[str, Any]) -> list[str] | None:
        ids = id_list(data, "member_ids")
        if ids is not None:
            for user_id in ids:
                await self.workspace.user(user_id)  # NotFound for an unknown user
        return ids

    # accounts ---------------------------------------------------------------------------
    @_announces("accounts")
    async def create_account(
        self, by: User, data: dict[str, Any]
    ) -> tuple[ChannelAccount, dict[str, str]]:
        """The new account and, for an API account, its credentials (shown once)."""
        _check_admin(by, "add channel accounts")
        kind = enum_field(data, "kind", ChannelKind)
        if kind is None:
            raise Invalid("kind is required: email, whatsapp or api")
        name = text_field(data, "name", required=True)
        assert name is not None
        account = ChannelAccount(id=new_id("acc"), kind=kind, name=name)
        await self._apply_account(account, data)
        credentials: dict[str, str] = {}
        if kind == ChannelKind.API:
            credentials = {
                "token": secrets.token_urlsafe(32),
                "webhook_secret": secrets.token_urlsafe(32),
            }
            account.secrets.update(credentials)
        await self._save_account(account)
        return account, credentials

    @_announces("accounts")
    async def update_account(
        self, by: User, account_id: str, data: dict[str, Any]
    ) -> ChannelAccount:
        _check_admin(by, "change channel accounts")
        account = await self.store.get(ChannelAccount, account_id)
        if account is None:
            raise NotFound(f"No account {account_id}")
        if "kind" in data and data["kind"] != account.kind:
            raise Invalid("The kind of an account cannot change")
        name = text_field(data, "name")
        if name is not None:
            account.name = name
        await self._apply_account(account, data)
        await self._save_account(account)
        return account

    async def _apply_account(self, account: ChannelAccount, data: dict[str, Any]) -> None:
        if _get(data, "settings") not in (_UNSET, None):
            account.settings = clean_settings(data["settings"])
        if _get(data, "authorized") not in (_UNSET, None):
            grants = clean_grants(data["authorized"])
            for grant in grants:
                await self.workspace.user(grant.user_id)  # NotFound for an unknown user
            account.authorized = grants
        if _get(data, "secrets") not in (_UNSET, None):
            for key, value in clean_secrets(data["secrets"]).items():
                if account.kind == ChannelKind.API and key in ("token", "webhook_secret"):
                    raise Invalid(f"The {key} of an API account is generated by the server")
                if value is None:
                    account.secrets.pop(key, None)
                else:
                    account.secrets[key] = value
        if account.kind == ChannelKind.WHATSAPP:
            account.settings = whatsapp_config.validate(account.settings, account.secrets)
        if account.kind == ChannelKind.EMAIL:
            account.settings = email_config.validate_settings(account.settings, account.secrets)

    async def _save_account(self, account: ChannelAccount) -> None:
        await self.store.put(account)
        try:
            await self.workspace.account_saved(account)
        except ActorError as exc:
            raise Unavailable(
                "The account was saved but its channel did not reload: try again"
            ) from exc

    # contacts ---------------------------------------------------------------------------
    async def search_contacts(self, query: str) -> list[Contact]:
        return await self.store.search_contacts(query[:256], SEARCH_LIMIT) if query else []

    async def contact(self, contact_id: str) -> Contact:
        contact = await self.store.get(Contact, contact_id)
        if contact is None:
            raise NotFound(f"No contact {contact_id}")
        return contact

    async def create_contact(self, by: User, data: dict[str, Any]) -> Contact:
        name = text_field(data, "name", required=True)
        assert name is not None
        contact = Contact(id=new_id("ct"), name=name)
        await self._apply_contact(contact, data)
        await self.store.put(contact)
        return contact

    async def update_contact(self, by: User, contact_id: str, data: dict[str, Any]) -> Contact:
        contact = await self.contact(contact_id)
        name = text_field(data, "name")
        if name is not None:
            contact.name = name
        await self._apply_contact(contact, data)
        await self.store.put(contact)
        return contact

    async def _apply_contact(self, contact: Contact, data: dict[str, Any]) -> None:
        email = text_field(data, "email", max_len=254, allow_empty=True)
        if email is not None:
            contact.email = clean_email(email) if email else ""
        phone = text_field(data, "phone", max_len=32, allow_empty=True)
        if phone is not None:
            contact.phone = clean_phone(phone)
        if "customer_id" in data:
            customer_id = data["customer_id"]
            branch_id = data.get("branch_id")
            if customer_id is None:
                contact.customer_id = contact.branch_id = None
            elif not isinstance(customer_id, str):
                raise Invalid("customer_id must be a string or null")
            else:
                customer = await self.customer(customer_id)
                if branch_id is not None and branch_id not in {b.id for b in customer.branches}:
                    raise NotFound(f"No branch {branch_id} at {customer.name}")
                contact.customer_id, contact.branch_id = customer_id, branch_id

    # customers --------------------------------------------------------------------------
    async def search_customers(self, query: str) -> list[Customer]:
        return await self.store.search_customers(query[:256], SEARCH_LIMIT) if query else []

    async def customer(self, customer_id: str) -> Customer:
        customer = await self.store.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"No customer {customer_id}")
        return customer

    async def create_customer(self, by: User, data: dict[str, Any]) -> Customer:
        name = text_field(data, "name", required=True)
        assert name is not None
        customer = Customer(id=new_id("cus"), name=name)
        await self._apply_customer(customer, data)
        await self.store.put(customer)
        return customer

    async def update_customer(self, by: User, customer_id: str, data: dict[str, Any]) -> Customer:
        customer = await self.customer(customer_id)
        name = text_field(data, "name")
        if name is not None:
            customer.name = name
        await self._apply_customer(customer, data)
        await self.store.put(customer)
        return customer

    async def _apply_customer(self, customer: Customer, data: dict[str, Any]) -> None:
        if "salesman_id" in data:
            salesman = data["salesman_id"]
            if salesman is not None:
                if not isinstance(salesman, str):
                    raise Invalid("salesman_id must be a user id or null")
                await self.workspace.user(salesman)  # NotFound for an unknown user
            customer.salesman_id = salesman
        if _get(data, "custom_fields") not in (_UNSET, None):
            customer.custom_fields = clean_custom_fields(data["custom_fields"])
        if _get(data, "branches") not in (_UNSET, None):
            customer.branches = clean_branches(data["branches"], customer.branches)

    # tags -------------------------------------------------------------------------------
    async def tags(self) -> list[Tag]:
        return [t for t in await self.store.all(Tag) if not t.deleted]

    async def tag(self, tag_id: str) -> Tag:
        tag = await self.store.get(Tag, tag_id)
        if tag is None or tag.deleted:
            raise NotFound(f"No tag {tag_id}")
        return tag

    @_announces("tags")
    async def create_tag(self, by: User, data: dict[str, Any]) -> Tag:
        name = text_field(data, "name", required=True, max_len=64)
        assert name is not None
        await self._unique_tag_name(name, None)
        tag = Tag(id=new_id("tag"), name=name)
        self._apply_tag(tag, data)
        await self.store.put(tag)
        return tag

    @_announces("tags")
    async def update_tag(self, by: User, tag_id: str, data: dict[str, Any]) -> Tag:
        tag = await self.tag(tag_id)
        name = text_field(data, "name", max_len=64)
        if name is not None:
            await self._unique_tag_name(name, tag.id)
            tag.name = name
        self._apply_tag(tag, data)
        await self.store.put(tag)
        return tag

    @_announces("tags")
    async def delete_tag(self, by: User, tag_id: str) -> Tag:
        """Soft delete: conversations keep the id in their history; lists hide the tag."""
        tag = await self.tag(tag_id)
        tag.deleted = True
        await self.store.put(tag)
        return tag

    @staticmethod
    def _apply_tag(tag: Tag, data: dict[str, Any]) -> None:
        description = text_field(data, "description", max_len=500, allow_empty=True)
        if description is not None:
            tag.description = description
        color = text_field(data, "color", max_len=7)
        if color is not None:
            tag.color = clean_color(color)

    async def _unique_tag_name(self, name: str, own_id: str | None) -> None:
        for other in await self.tags():
            if other.id != own_id and other.name.casefold() == name.casefold():
                raise Conflict(f"A tag named {other.name!r} already exists")

    # templates --------------------------------------------------------------------------
    @_announces("templates")
    async def create_template(self, by: User, data: dict[str, Any]) -> Template:
        account_id = text_field(data, "account_id", required=True, max_len=128)
        name = text_field(data, "name", required=True)
        content = text_field(data, "content", required=True, max_len=MAX_TEXT, strip=False)
        assert account_id is not None and name is not None and content is not None
        self.workspace.viewable_account(by, account_id)
        template = Template(id=new_id("tpl"), account_id=account_id, name=name, content=content)
        self._apply_template(template, data)
        await self._whatsapp_review(template, data, submit=True)
        await self.store.put(template)
        return template

    @_announces("templates")
    async def update_template(self, by: User, template_id: str, data: dict[str, Any]) -> Template:
        template = await self._template(by, template_id)
        reviewed = (template.name, template.content, template.language, template.category)
        account_id = text_field(data, "account_id", max_len=128)
        if account_id is not None:
            self.workspace.viewable_account(by, account_id)
            template.account_id = account_id
        name = text_field(data, "name")
        if name is not None:
            template.name = name
        content = text_field(data, "content", max_len=MAX_TEXT, strip=False)
        if content is not None:
            template.content = content
        self._apply_template(template, data)
        await self._whatsapp_review(template, data, submit=False, reviewed=reviewed)
        await self.store.put(template)
        return template

    async def _whatsapp_review(
        self,
        template: Template,
        data: dict[str, Any],
        *,
        submit: bool,
        reviewed: tuple[str, str, str, str] | None = None,
    ) -> None:
        """A WhatsApp template goes to the provider for review when created, and again when
        what it reviewed (name, content, language, category) changed: it is pending until
        the verdict arrives. Other channels' templates need no review."""
        account = self.workspace.account(template.account_id)
        if account.kind != ChannelKind.WHATSAPP:
            if template.approval is not None:
                template.approval, template.provider_template_id = None, ""
            return
        provider = str(account.settings.get("provider", ""))
        whatsapp_templates.clean_fields(data, template, provider)
        now = (template.name, template.content, template.language, template.category)
        if provider == whatsapp_config.CLOUD and reviewed is not None and reviewed[0] != now[0]:
            # Meta's template names are fixed: a renamed template is submitted as a new one.
            template.provider_template_id, template.approval = "", None
        if submit or reviewed != now or template.approval is None or "content_sid" in data:
            if self.workspace.template_review is None:
                raise Unavailable("WhatsApp templates cannot be submitted on this server")
            await self.workspace.template_review(account, template)

    @_announces("templates")
    async def delete_template(self, by: User, template_id: str) -> None:
        await self._template(by, template_id)
        await self.store.delete(Template, template_id)

    async def _template(self, by: User, template_id: str) -> Template:
        template = await self.store.get(Template, template_id)
        if template is None:
            raise NotFound(f"No template {template_id}")
        self.workspace.viewable_account(by, template.account_id)
        return template

    @staticmethod
    def _apply_template(template: Template, data: dict[str, Any]) -> None:
        if _get(data, "labels") not in (_UNSET, None):
            template.labels = clean_labels(data["labels"])
        kind = enum_field(data, "type", TemplateType)
        if kind is not None:
            template.type = kind
