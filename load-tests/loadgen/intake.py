"""The real intake paths the sender drives (`--intake api|cloud|twilio|mix`).

- api: `POST /channels/api/{account}/messages` with the channel's bearer token.
- cloud: `POST /channels/whatsapp/{account}/webhook`, Meta's `messages` webhook (the shape
  tests/fakes/graph.py builds), raw JSON signed with `X-Hub-Signature-256` by the server's own
  `signatures.meta_signature` and the account's app secret; a unique `wamid` per message.
- twilio: `POST /channels/twilio/{account}/webhook`, Twilio's inbound form (tests/fakes/twilio.py),
  signed with `X-Twilio-Signature` by `signatures.twilio_signature` over the exact `webhook_url`
  stored on the account; a unique `MessageSid` per message.

Every message's text is `lt:<id>:<send time>:<phase> ...`, so each agent recovers the send time
whatever the intake; `mix` takes the three in turn (id modulo 3).

The WhatsApp accounts are created through the admin API (`POST /api/accounts`, the Twilio one
then `PATCH`ed with its exact webhook URL, as an admin does) and point at local fakes of the
Graph API and of Twilio (started here, in the coordinator), so agent replies have somewhere
to go.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from loadgen.target import REPO, SetupError, Target

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from server.transports.whatsapp import signatures
from tests.fakes.graph import FakeGraph
from tests.fakes.twilio import FakeTwilio

INTAKES = ("api", "cloud", "twilio", "mix")


@dataclass
class Intake:
    """One intake path: builds the request for message `ident` sent at `sent`."""

    name: str
    account_id: str
    endpoint: str
    prefix: str
    senders: int

    def request(self, ident: int, text: str) -> tuple[bytes, dict[str, str]]:
        raise NotImplementedError


@dataclass
class ApiIntake(Intake):
    token: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
        }

    def request(self, ident: int, text: str) -> tuple[bytes, dict[str, str]]:
        body = {
            "message_id": f"{self.prefix}-{ident}",
            "from": {"id": f"{self.prefix}-s{ident % self.senders}", "name": "Load Customer"},
            "text": text,
        }
        return orjson.dumps(body), self.headers


def _phone(ident: int, senders: int, area: str) -> str:
    """A customer's WhatsApp number without the `+` (E.164 digits): one per sender."""
    return f"1{area}{ident % senders:07d}"


@dataclass
class CloudIntake(Intake):
    graph: FakeGraph | None = None
    app_secret: str = ""

    def request(self, ident: int, text: str) -> tuple[bytes, dict[str, str]]:
        assert self.graph is not None
        sender = _phone(ident, self.senders, "555")
        payload = self.graph.text(
            sender, text, name=f"Load Customer {ident % self.senders}",
            wamid=f"wamid.{self.prefix}-{ident}",
        )  # fmt: skip
        raw = orjson.dumps(payload)
        return raw, {
            "Content-Type": "application/json",
            signatures.META_HEADER: signatures.meta_signature(self.app_secret, raw),
        }


@dataclass
class TwilioIntake(Intake):
    twilio: FakeTwilio | None = None
    auth_token: str = ""
    webhook_url: str = ""
    run_hex: str = field(default_factory=lambda: secrets.token_hex(4))  # unique across runs

    def request(self, ident: int, text: str) -> tuple[bytes, dict[str, str]]:
        assert self.twilio is not None
        sender = "+" + _phone(ident, self.senders, "556")
        sid = f"SM{self.run_hex}{ident:024x}"
        params = self.twilio.inbound(
            sender, text, name=f"Load Customer {ident % self.senders}", sid=sid
        )
        raw = urlencode(params).encode()
        return raw, {
            "Content-Type": "application/x-www-form-urlencoded",
            signatures.TWILIO_HEADER: signatures.twilio_signature(
                self.auth_token, self.webhook_url, params.items()
            ),
        }


@dataclass
class Intakes:
    """The intake(s) of a run and the fakes they need (stopped with `stop()`)."""

    mode: str
    paths: list[Intake]
    fakes: list[Any] = field(default_factory=list)

    def pick(self, ident: int) -> Intake:
        return self.paths[ident % len(self.paths)]

    def accounts(self) -> dict[str, str]:
        """account id -> intake name (the report counts deliveries by it)."""
        return {p.account_id: p.name for p in self.paths}

    def describe(self) -> list[dict[str, str]]:
        return [
            {"intake": p.name, "account_id": p.account_id, "endpoint": p.endpoint}
            for p in self.paths
        ]

    async def stop(self) -> None:
        for fake in self.fakes:
            await fake.stop()


async def _admin(http: httpx.AsyncClient, credentials: dict[str, Any]) -> dict[str, str]:
    admin = credentials["admin"]
    response = await http.post(
        "/api/tokens", json={"email": admin["email"], "password": admin["password"]}
    )
    if response.status_code != 200:
        raise SetupError(f"admin login: {response.status_code} {response.text[:200]}")
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def _create_account(
    http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post("/api/accounts", json=body, headers=headers)
    if response.status_code != 201:
        raise SetupError(f"POST /api/accounts: {response.status_code} {response.text[:300]}")
    account: dict[str, Any] = response.json()["account"]
    return account


async def prepare_intakes(
    mode: str, target: Target, credentials: dict[str, Any], prefix: str, senders: int
) -> Intakes:
    """The intake paths for `mode` against the real server (baselines only take `api`)."""
    api = ApiIntake(
        name="api",
        account_id=target.account_id,
        endpoint=f"{target.url}/channels/api/{target.account_id}/messages",
        prefix=prefix,
        senders=senders,
        token=target.channel_token,
    )
    if mode == "api" or target.kind != "server":
        return Intakes("api", [api])
    grants = [{"user_id": uid} for uid in target.user_ids]
    intakes = Intakes(mode, [api] if mode == "mix" else [])
    async with httpx.AsyncClient(base_url=target.url, timeout=60.0) as http:
        headers = await _admin(http, credentials)
        if mode in ("cloud", "mix"):
            graph = FakeGraph(app_secret=f"load-app-secret-{secrets.token_hex(12)}")
            await graph.start()
            intakes.fakes.append(graph)
            verify_token = f"load-verify-{secrets.token_hex(8)}"
            account = await _create_account(
                http,
                headers,
                {
                    "kind": "whatsapp",
                    "name": f"Load WhatsApp Cloud {prefix}",
                    "settings": {
                        "provider": "cloud",
                        "phone_number_id": graph.phone_number_id,
                        "waba_id": graph.waba_id,
                        "graph_base_url": graph.url,
                        "api_version": "v21.0",
                    },
                    "secrets": {
                        "access_token": graph.access_token,
                        "app_secret": graph.app_secret,
                        "verify_token": verify_token,
                    },
                    "authorized": grants,
                },
            )
            hook = f"{target.url}/channels/whatsapp/{account['id']}/webhook"
            # Meta's subscription handshake first, as the real setup goes.
            check = await http.get(
                hook,
                params={"hub.mode": "subscribe", "hub.verify_token": verify_token,
                        "hub.challenge": "load-challenge"},
            )  # fmt: skip
            if check.status_code != 200 or check.text != "load-challenge":
                raise SetupError(f"webhook verification: {check.status_code} {check.text[:200]}")
            graph.webhook_url = hook
            intakes.paths.append(
                CloudIntake(
                    name="cloud",
                    account_id=account["id"],
                    endpoint=hook,
                    prefix=prefix,
                    senders=senders,
                    graph=graph,
                    app_secret=graph.app_secret,
                )
            )
        if mode in ("twilio", "mix"):
            twilio = FakeTwilio(auth_token=f"load-auth-token-{secrets.token_hex(12)}")
            await twilio.start()
            intakes.fakes.append(twilio)
            account = await _create_account(
                http,
                headers,
                {
                    "kind": "whatsapp",
                    "name": f"Load WhatsApp Twilio {prefix}",
                    "settings": {
                        "provider": "twilio",
                        "account_sid": twilio.account_sid,
                        "sender": twilio.sender,
                        "base_url": twilio.url,
                        # The id is in the URL Twilio signs: set right below, as an admin would.
                        "webhook_url": "https://example.invalid/pending",
                    },
                    "secrets": {"auth_token": twilio.auth_token},
                    "authorized": grants,
                },
            )
            hook = f"{target.url}/channels/twilio/{account['id']}/webhook"
            settings = {**account["settings"], "webhook_url": hook}
            response = await http.patch(
                f"/api/accounts/{account['id']}", json={"settings": settings}, headers=headers
            )
            if response.status_code != 200:
                raise SetupError(f"PATCH twilio account: {response.status_code} {response.text}")
            intakes.paths.append(
                TwilioIntake(
                    name="twilio",
                    account_id=account["id"],
                    endpoint=hook,
                    prefix=prefix,
                    senders=senders,
                    twilio=twilio,
                    auth_token=twilio.auth_token,
                    webhook_url=hook,
                )
            )
    return intakes
