"""`--demo`: a seeded workspace and a simulated customer, so a newcomer sees a live inbox.

Everything goes through the real paths: seed conversations through the workspace's intake, live
traffic as signed-token HTTP posts to the API channel, replies to a local webhook that verifies
the signature and reports delivered / read back, as an external system would.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import structlog
from aiohttp import web

from server.domain.models import (
    AccountStatus,
    AuthorizedUser,
    Branch,
    ChannelAccount,
    ChannelKind,
    Customer,
    Role,
    Tag,
    Team,
    Template,
    TemplateType,
    User,
    new_id,
)
from server.domain.passwords import hash_password
from server.transports.api_channel import SIGNATURE_HEADER, verify
from server.transports.base import Inbound

if TYPE_CHECKING:
    from server.app import Server

log = structlog.get_logger(__name__)

USERS = [
    ("admin@demo.test", "demo-admin", "Ada Admin", Role.ADMIN),
    ("alice@demo.test", "demo-alice", "Alice Agent", Role.AGENT),
    ("bob@demo.test", "demo-bob", "Bob Agent", Role.AGENT),
]
CREDENTIALS_FILE = "demo-credentials.json"
SIMULATOR_PAUSE = (4.0, 10.0)  # seconds between simulated customer messages

CUSTOMERS = [
    ("Northwind Traders", ["Head office", "Harbour depot"]),
    ("Contoso Garage", ["Main workshop"]),
    ("Fabrikam Motors", ["North", "South"]),
    ("Tailspin Logistics", []),
]
PEOPLE = [
    ("Maria Lopez", "maria@northwind.example", 0),
    ("Tom Becker", "tom@contoso.example", 1),
    ("Aiko Tanaka", "aiko@fabrikam.example", 2),
    ("Sam Okafor", "sam@tailspin.example", 3),
    ("Lena Novak", "lena@example.org", None),
    ("Ravi Patel", "ravi@example.net", None),
    ("Chloe Martin", "chloe@northwind.example", 0),
    ("Jonas Berg", "jonas@example.com", None),
    ("Grace Kim", "grace@fabrikam.example", 2),
    ("Diego Alvarez", "diego@example.com", None),
    ("Emma Wilson", "emma@contoso.example", 1),
    ("Yusuf Demir", "yusuf@example.org", None),
    ("Olivia Brown", "olivia@tailspin.example", 3),
    ("Mateo Rossi", "mateo@example.com", None),
    ("Hana Sato", "hana@fabrikam.example", 2),
    ("Lucas Meyer", "lucas@contoso.example", 1),
    ("Amara Obi", "amara@example.net", None),
    ("Noah Jensen", "noah@northwind.example", 0),
    ("Sofia Costa", "sofia@example.org", None),
    ("Ethan Clarke", "ethan@example.com", None),
    ("Priya Nair", "priya@tailspin.example", 3),
    ("Felix Wagner", "felix@example.net", None),
    ("Zoe Laurent", "zoe@fabrikam.example", 2),
    ("Omar Haddad", "omar@example.org", None),
    ("Ines Moreau", "ines@contoso.example", 1),
    ("Kenji Mori", "kenji@example.com", None),
    ("Ava Thompson", "ava@northwind.example", 0),
    ("Leo Fischer", "leo@example.net", None),
    ("Mia Kowalski", "mia@example.org", None),
    ("Arjun Mehta", "arjun@tailspin.example", 3),
    ("Nora Lindqvist", "nora@example.com", None),
    ("Samuel Adeyemi", "samuel@example.net", None),
    ("Julia Horvat", "julia@fabrikam.example", 2),
    ("Tariq Aziz", "tariq@example.org", None),
    ("Elena Petrova", "elena@contoso.example", 1),
    ("Ben Carter", "ben@example.com", None),
]
LINES = [
    "Hi, do you have brake pads for a 2017 Golf in stock?",
    "Can you send me the quote for the order we discussed?",
    "Our delivery hasn't arrived yet, could you check the tracking?",
    "Is the invoice INV-2291 already paid on your side?",
    "We need 40 oil filters by Friday. Possible?",
    "Thanks, that worked!",
    "Could someone call me back about the warranty claim?",
    "What are your opening hours during the holidays?",
    "Please update our billing address to the new office.",
    "The part number you sent doesn't match our car, can you double-check?",
    "Any discount if we order 100 units?",
    "Great, please go ahead with the order.",
]
TAGS = [
    ("Urgent", "Needs an answer today", "#dc2626"),
    ("Quote", "A price request", "#2563eb"),
    ("Order", "About an existing order", "#16a34a"),
    ("Billing", "Invoices and payments", "#d97706"),
    ("VIP", "Key account", "#7c3aed"),
]
TEMPLATES = [
    (
        "Quote ready",
        "Hello {{customer_name}},\n\nYour quote {{quote_number}} is ready for review."
        "\n\nBest regards,\n{{user_name}}",
        ["Quotes"],
        TemplateType.REPLY,
    ),
    (
        "Quick thanks",
        "Thanks {{contact_name}}, we're on it and will get back to you shortly.",
        ["Greetings"],
        TemplateType.REPLY,
    ),
    (
        "Order shipped",
        "Good news {{customer_name}}: your order has shipped today.",
        ["Orders"],
        TemplateType.REPLY,
    ),
    ("Welcome", "Hello from {{company_name}}! How can we help?", ["Greetings"], TemplateType.START),
]


async def seed(server: Server, base_url: str) -> dict[str, Any]:
    """Create the demo workspace once; later starts reuse it."""
    store = server.store
    workspace = server.workspace
    existing = await store.all(ChannelAccount)
    if existing and await store.user_by_email(USERS[0][0]) is not None:
        return _read_credentials(server)
    users = []
    for email, password, name, role in USERS:
        user = User(
            id=new_id("usr"),
            email=email,
            name=name,
            role=role,
            password_hash=hash_password(password),
        )
        await store.put(user)
        workspace.remember_user(user)
        users.append(user)
    admin, alice, bob = users
    await store.put(Team(id=new_id("team"), name="Support", member_ids=[alice.id, bob.id]))
    token, webhook_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    account = ChannelAccount(
        id=new_id("acc"),
        kind=ChannelKind.API,
        name="Website chat",
        status=AccountStatus.ACTIVE,
        authorized=[
            AuthorizedUser(
                admin.id, can_reassign=True, can_clear_assignment=True, can_resolve_all=True
            ),
            AuthorizedUser(
                alice.id, can_reassign=True, can_clear_assignment=True, auto_assign=True
            ),
            AuthorizedUser(bob.id, auto_assign=True),
        ],
        settings={"webhook_url": f"{base_url}/demo/webhook", "company_name": "WiseParts"},
        secrets={"token": token, "webhook_secret": webhook_secret},
    )
    await store.put(account)
    workspace.remember_account(account)
    customers = []
    for name, branches in CUSTOMERS:
        customer = Customer(
            id=new_id("cus"),
            name=name,
            salesman_id=random.choice([alice.id, bob.id]),
            custom_fields={"tier": random.choice(["gold", "silver", "bronze"])},
            branches=[Branch(id=new_id("br"), name=b) for b in branches],
        )
        await store.put(customer)
        customers.append(customer)
    tags = []
    for name, description, color in TAGS:
        tag = Tag(id=new_id("tag"), name=name, description=description, color=color)
        await store.put(tag)
        tags.append(tag)
    for name, content, labels, type_ in TEMPLATES:
        await store.put(
            Template(
                id=new_id("tpl"),
                account_id=account.id,
                name=name,
                content=content,
                labels=labels,
                type=type_,
            )
        )
    rng = random.Random(7)
    for round_ in range(3):
        for index, (person, email, customer_index) in enumerate(PEOPLE):
            if round_ and rng.random() < 0.4:
                continue
            inbound = Inbound(
                provider_message_id=f"seed-{round_}-{index}",
                handle=email,
                name=person,
                email=email,
                text=rng.choice(LINES),
            )
            reply = await workspace.intake(account.id, inbound)
            conversation_id = reply.conversation.id
            if round_ == 0 and customer_index is not None:
                customer = customers[customer_index]
                await workspace.link_customer(admin, conversation_id, customer_id=customer.id)
            if round_ == 0 and index % 3 == 0:
                await workspace.assign(
                    admin, conversation_id, user_id=rng.choice([alice.id, bob.id]), team_id=None
                )
            if round_ == 0 and index % 2 == 0:
                await workspace.tag(admin, conversation_id, tag_id=rng.choice(tags).id)
            if round_ == 1 and index % 4 == 1:
                await workspace.post_message(
                    admin,
                    conversation_id,
                    text="Customer called, waiting on stock check.",
                    note=True,
                )
            if round_ == 2 and index % 5 == 2:
                await workspace.set_status(admin, conversation_id, "resolved")
    credentials = {
        "admin": {"email": USERS[0][0], "password": USERS[0][1]},
        "agents": [{"email": e, "password": p, "name": n} for e, p, n, _ in USERS[1:]],
        "api_channel": {"account_id": account.id, "token": token},
    }
    path = server.settings.data_dir / CREDENTIALS_FILE
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    log.info("demo.seeded", conversations=len(PEOPLE))
    return credentials


def _read_credentials(server: Server) -> dict[str, Any]:
    path = server.settings.data_dir / CREDENTIALS_FILE
    data: dict[str, Any] = json.loads(path.read_text())
    return data


class CustomerSimulator:
    """Keeps writing as random demo customers through the API channel's HTTP door."""

    def __init__(self, server: Server, base_url: str, account_id: str, token: str) -> None:
        self.server = server
        self.url = f"{base_url}/channels/api/{account_id}/messages"
        self.token = token
        self.client = httpx.AsyncClient(timeout=10.0)
        self.rng = random.Random()
        self.sent = 0

    def start(self) -> None:
        self._next()

    def _next(self) -> None:
        self.server.timers.schedule(
            "demo-customer", time.time() + self.rng.uniform(*SIMULATOR_PAUSE), self._send
        )

    async def _send(self) -> None:
        try:
            person, email, _ = self.rng.choice(PEOPLE)
            body = {
                "message_id": f"sim-{secrets.token_hex(8)}",
                "from": {"id": email, "name": person, "email": email},
                "text": self.rng.choice(LINES),
            }
            response = await self.client.post(
                self.url, json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
            if response.status_code >= 300:
                log.warning("demo.customer_refused", status=response.status_code)
            self.sent += 1
        except httpx.HTTPError as exc:
            log.warning("demo.customer_failed", error=type(exc).__name__)
        finally:
            self._next()

    async def aclose(self) -> None:
        self.server.timers.cancel("demo-customer")
        await self.client.aclose()


def register_routes(app: web.Application, server: Server) -> None:
    """The demo's stand-in for an external system: receives replies, reports ticks back."""

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        account = next(
            (a for a in server.workspace.all_accounts() if a.kind == ChannelKind.API), None
        )
        secret = account.secrets.get("webhook_secret", "") if account else ""
        if account is None or not verify(secret, body, request.headers.get(SIGNATURE_HEADER, "")):
            log.warning("demo.webhook_bad_signature")
            return web.json_response({"error": "bad signature"}, status=401)
        payload = orjson.loads(body)
        message_id = payload["message"]["id"]
        account_id = account.id

        def report(status: str, delay: float) -> None:
            async def send() -> None:
                await server.workspace.report_delivery(account_id, message_id, status)

            server.timers.schedule(f"demo-{status}:{message_id}", time.time() + delay, send)

        report("delivered", 1.5)
        report("read", 4.0)
        return web.json_response({"provider_message_id": f"demo-{message_id}"})

    app.router.add_post("/demo/webhook", webhook)


async def start_demo(server: Server, app: web.Application) -> None:
    settings = server.settings
    base_url = f"http://{settings.host}:{settings.port}"
    credentials = await seed(server, base_url)
    lines = [
        "",
        "  Conversations demo is running",
        f"  Open {base_url}/ and log in as one of:",
        f"    admin  {USERS[0][0]} / {USERS[0][1]}",
        f"    agent  {USERS[1][0]} / {USERS[1][1]}",
        f"    agent  {USERS[2][0]} / {USERS[2][1]}",
        "  A simulated customer writes every few seconds." if settings.simulator else "",
        "",
    ]
    print("\n".join(lines), flush=True)
    if settings.simulator:
        channel = credentials["api_channel"]
        simulator = CustomerSimulator(server, base_url, channel["account_id"], channel["token"])
        server.extras.append(simulator)
        simulator.start()
