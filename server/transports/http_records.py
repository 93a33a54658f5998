"""HTTP routes of the managed records: users, teams, accounts, contacts, customers, tags,
templates. Validation and permission checks live in `server.records`."""

from __future__ import annotations

from aiohttp import web

from server.domain.models import AccountStatus, Team
from server.transports.http_common import context, current_user, json_body, json_response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/users", list_users)
    router.add_post("/api/users", create_user)
    router.add_patch("/api/users/{id}", update_user)
    router.add_get("/api/teams", list_teams)
    router.add_post("/api/teams", create_team)
    router.add_patch("/api/teams/{id}", update_team)
    router.add_delete("/api/teams/{id}", delete_team)
    router.add_get("/api/accounts", list_accounts)
    router.add_post("/api/accounts", create_account)
    router.add_get("/api/accounts/{id}", get_account)
    router.add_patch("/api/accounts/{id}", update_account)
    router.add_post("/api/accounts/{id}/pause", pause_account)
    router.add_post("/api/accounts/{id}/resume", resume_account)
    router.add_get("/api/contacts", list_contacts)
    router.add_post("/api/contacts", create_contact)
    router.add_get("/api/contacts/{id}", get_contact)
    router.add_patch("/api/contacts/{id}", update_contact)
    router.add_get("/api/customers", list_customers)
    router.add_post("/api/customers", create_customer)
    router.add_get("/api/customers/{id}", get_customer)
    router.add_patch("/api/customers/{id}", update_customer)
    router.add_get("/api/tags", list_tags)
    router.add_post("/api/tags", create_tag)
    router.add_patch("/api/tags/{id}", update_tag)
    router.add_delete("/api/tags/{id}", delete_tag)
    router.add_get("/api/templates", list_templates)
    router.add_post("/api/templates", create_template)
    router.add_patch("/api/templates/{id}", update_template)
    router.add_delete("/api/templates/{id}", delete_template)


def _id(request: web.Request) -> str:
    return request.match_info["id"]


# ---------------------------------------------------------------------------- users
async def list_users(request: web.Request) -> web.Response:
    """Every user (public fields only)."""
    await current_user(request)
    return json_response({"users": [u.public() for u in context(request).workspace.users()]})


async def create_user(request: web.Request) -> web.Response:
    """Add a user (admin)."""
    user = await current_user(request)
    created = await context(request).records.create_user(user, await json_body(request))
    return json_response({"user": created.public()}, status=201)


async def update_user(request: web.Request) -> web.Response:
    """Change a user (admin)."""
    user = await current_user(request)
    updated = await context(request).records.update_user(
        user, _id(request), await json_body(request)
    )
    return json_response({"user": updated.public()})


# ---------------------------------------------------------------------------- teams
async def list_teams(request: web.Request) -> web.Response:
    """Every team."""
    await current_user(request)
    teams = await context(request).workspace.store.all(Team)
    return json_response({"teams": [t.to_dict() for t in teams]})


async def create_team(request: web.Request) -> web.Response:
    """Add a team (admin)."""
    user = await current_user(request)
    team = await context(request).records.create_team(user, await json_body(request))
    return json_response({"team": team.to_dict()}, status=201)


async def update_team(request: web.Request) -> web.Response:
    """Rename a team or change its members (admin)."""
    user = await current_user(request)
    team = await context(request).records.update_team(user, _id(request), await json_body(request))
    return json_response({"team": team.to_dict()})


async def delete_team(request: web.Request) -> web.Response:
    """Delete a team (admin)."""
    user = await current_user(request)
    await context(request).records.delete_team(user, _id(request))
    return json_response({"id": _id(request), "deleted": True})


# ---------------------------------------------------------------------------- accounts
async def list_accounts(request: web.Request) -> web.Response:
    """The channel accounts you may see (secrets by name only)."""
    user = await current_user(request)
    accounts = context(request).workspace.visible_accounts(user)
    return json_response({"accounts": [a.public() for a in accounts]})


async def get_account(request: web.Request) -> web.Response:
    """One channel account you may see."""
    user = await current_user(request)
    account = context(request).workspace.viewable_account(user, _id(request))
    return json_response({"account": account.public()})


async def create_account(request: web.Request) -> web.Response:
    """Add a channel account (admin). An API account's token and webhook secret are returned
    once, here, under `credentials`."""
    user = await current_user(request)
    account, credentials = await context(request).records.create_account(
        user, await json_body(request)
    )
    body: dict[str, object] = {"account": account.public()}
    if credentials:
        body["credentials"] = credentials
    return json_response(body, status=201)


async def update_account(request: web.Request) -> web.Response:
    """Change a channel account's name, settings, authorized users or secrets (admin)."""
    user = await current_user(request)
    account = await context(request).records.update_account(
        user, _id(request), await json_body(request)
    )
    return json_response({"account": account.public()})


async def pause_account(request: web.Request) -> web.Response:
    """Pause a channel account: its intake is refused until resumed (admin)."""
    user = await current_user(request)
    account = await context(request).workspace.set_account_status(
        user, _id(request), AccountStatus.PAUSED
    )
    return json_response({"account": account.public()})


async def resume_account(request: web.Request) -> web.Response:
    """Resume a paused channel account (admin)."""
    user = await current_user(request)
    account = await context(request).workspace.set_account_status(
        user, _id(request), AccountStatus.ACTIVE
    )
    return json_response({"account": account.public()})


# ---------------------------------------------------------------------------- contacts
async def list_contacts(request: web.Request) -> web.Response:
    """Contacts whose name, email or phone contains `q` (empty without `q`)."""
    await current_user(request)
    contacts = await context(request).records.search_contacts(request.query.get("q", "").strip())
    return json_response({"contacts": [c.to_dict() for c in contacts]})


async def get_contact(request: web.Request) -> web.Response:
    """One contact."""
    await current_user(request)
    contact = await context(request).records.contact(_id(request))
    return json_response({"contact": contact.to_dict()})


async def create_contact(request: web.Request) -> web.Response:
    """Add a contact."""
    user = await current_user(request)
    contact = await context(request).records.create_contact(user, await json_body(request))
    return json_response({"contact": contact.to_dict()}, status=201)


async def update_contact(request: web.Request) -> web.Response:
    """Change a contact."""
    user = await current_user(request)
    contact = await context(request).records.update_contact(
        user, _id(request), await json_body(request)
    )
    return json_response({"contact": contact.to_dict()})


# ---------------------------------------------------------------------------- customers
async def list_customers(request: web.Request) -> web.Response:
    """Customers whose or whose branch's name contains `q` (empty without `q`)."""
    await current_user(request)
    customers = await context(request).records.search_customers(request.query.get("q", "").strip())
    return json_response({"customers": [c.to_dict() for c in customers]})


async def get_customer(request: web.Request) -> web.Response:
    """One customer with its branches."""
    await current_user(request)
    customer = await context(request).records.customer(_id(request))
    return json_response({"customer": customer.to_dict()})


async def create_customer(request: web.Request) -> web.Response:
    """Add a customer (branches, salesman, custom fields)."""
    user = await current_user(request)
    customer = await context(request).records.create_customer(user, await json_body(request))
    return json_response({"customer": customer.to_dict()}, status=201)


async def update_customer(request: web.Request) -> web.Response:
    """Change a customer; `branches` replaces the list (keep an entry's `id` to keep it)."""
    user = await current_user(request)
    customer = await context(request).records.update_customer(
        user, _id(request), await json_body(request)
    )
    return json_response({"customer": customer.to_dict()})


# ---------------------------------------------------------------------------- tags
async def list_tags(request: web.Request) -> web.Response:
    """Tags (deleted ones hidden)."""
    await current_user(request)
    tags = await context(request).records.tags()
    return json_response({"tags": [t.to_dict() for t in tags]})


async def create_tag(request: web.Request) -> web.Response:
    """Add a tag (names are unique, case-insensitively)."""
    user = await current_user(request)
    tag = await context(request).records.create_tag(user, await json_body(request))
    return json_response({"tag": tag.to_dict()}, status=201)


async def update_tag(request: web.Request) -> web.Response:
    """Rename or recolor a tag."""
    user = await current_user(request)
    tag = await context(request).records.update_tag(user, _id(request), await json_body(request))
    return json_response({"tag": tag.to_dict()})


async def delete_tag(request: web.Request) -> web.Response:
    """Delete a tag; conversations keep it in their history."""
    user = await current_user(request)
    tag = await context(request).records.delete_tag(user, _id(request))
    return json_response({"tag": tag.to_dict()})


# ---------------------------------------------------------------------------- templates
async def list_templates(request: web.Request) -> web.Response:
    """Templates of the accounts you may see; `q` matches name and labels."""
    user = await current_user(request)
    account_id = request.query.get("account_id") or None
    workspace = context(request).workspace
    if account_id:
        workspace.viewable_account(user, account_id)
    rows = await workspace.templates_for(user, request.query.get("q", "")[:200], account_id)
    return json_response({"templates": [t.to_dict() for t in rows]})


async def create_template(request: web.Request) -> web.Response:
    """Add a template to an account you may see."""
    user = await current_user(request)
    template = await context(request).records.create_template(user, await json_body(request))
    return json_response({"template": template.to_dict()}, status=201)


async def update_template(request: web.Request) -> web.Response:
    """Change a template."""
    user = await current_user(request)
    template = await context(request).records.update_template(
        user, _id(request), await json_body(request)
    )
    return json_response({"template": template.to_dict()})


async def delete_template(request: web.Request) -> web.Response:
    """Delete a template."""
    user = await current_user(request)
    await context(request).records.delete_template(user, _id(request))
    return json_response({"id": _id(request), "deleted": True})
