"""Assignment rules (the guide's "Assignment Rules"): who gets a new conversation.

An account's `settings["assignment_rules"]` is a list, evaluated in order; the first rule that
finds an eligible user wins. Eligible means authorized on the account to handle conversations;
the rotation rules (workload, random) also require the user's `auto_assign` flag, and prefer
users who are online when any are.

| type               | assigns to                                              | parameters |
|--------------------|---------------------------------------------------------|------------|
| customer_salesman  | the linked customer's salesman                          |            |
| customer_field     | the user named in a customer custom field (id or email) | `field`    |
| latest_assignee    | whoever last handled this contact on this account       |            |
| team               | the least loaded auto-assign member of a team           | `team_id`  |
| workload           | the least loaded auto-assign user (ties: by id)         |            |
| random             | a random auto-assign user                               |            |
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.domain.errors import Invalid
from server.domain.models import ChannelAccount, Customer, Team, User

RULE_TYPES = (
    "customer_salesman",
    "customer_field",
    "latest_assignee",
    "team",
    "workload",
    "random",
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules may look at, gathered by the caller."""

    account: ChannelAccount
    users: Mapping[str, User]
    customer: Customer | None = None
    latest_assignee_id: str | None = None
    teams: Mapping[str, Team] | None = None
    workload: Mapping[str, int] | None = None  # open conversations per user on this account
    online: frozenset[str] = frozenset()


def validate_rules(rules: Any) -> list[dict[str, Any]]:
    if not isinstance(rules, list) or len(rules) > 20:
        raise Invalid("assignment_rules must be a list of at most 20 rules")
    clean = []
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("type") not in RULE_TYPES:
            raise Invalid(f"Each rule needs a type among {', '.join(RULE_TYPES)}")
        if rule["type"] == "customer_field" and not isinstance(rule.get("field"), str):
            raise Invalid("A customer_field rule needs the name of the field")
        if rule["type"] == "team" and not isinstance(rule.get("team_id"), str):
            raise Invalid("A team rule needs a team_id")
        clean.append(dict(rule))
    return clean


def choose_assignee(
    rules: list[dict[str, Any]], facts: Facts, rng: random.Random | None = None
) -> str | None:
    """The user id the first matching rule picks, or None to leave it unassigned."""
    for rule in rules:
        picked = _apply(rule, facts, rng or random.Random())
        if picked is not None:
            return picked
    return None


def _handles(facts: Facts, user_id: str | None) -> bool:
    if not user_id or user_id not in facts.users:
        return False
    grant = facts.account.grant(user_id)
    return grant is not None and grant.handles_conversations


def _rotation_pool(facts: Facts, among: list[str] | None = None) -> list[str]:
    pool = [
        g.user_id
        for g in facts.account.authorized
        if g.handles_conversations and g.auto_assign and g.user_id in facts.users
    ]
    if among is not None:
        pool = [u for u in pool if u in among]
    online = [u for u in pool if u in facts.online]
    return sorted(online or pool)


def _least_loaded(pool: list[str], workload: Mapping[str, int] | None) -> str | None:
    if not pool:
        return None
    loads = workload or {}
    return min(pool, key=lambda u: (loads.get(u, 0), u))


def _apply(rule: dict[str, Any], facts: Facts, rng: random.Random) -> str | None:
    kind = rule.get("type")
    if kind == "customer_salesman":
        candidate = facts.customer.salesman_id if facts.customer else None
        return candidate if _handles(facts, candidate) else None
    if kind == "customer_field":
        if facts.customer is None:
            return None
        value = facts.customer.custom_fields.get(str(rule.get("field")))
        if not isinstance(value, str):
            return None
        by_email = {u.email.lower(): u.id for u in facts.users.values()}
        candidate = value if value in facts.users else by_email.get(value.lower())
        return candidate if _handles(facts, candidate) else None
    if kind == "latest_assignee":
        return facts.latest_assignee_id if _handles(facts, facts.latest_assignee_id) else None
    if kind == "team":
        team = (facts.teams or {}).get(str(rule.get("team_id")))
        if team is None:
            return None
        return _least_loaded(_rotation_pool(facts, team.member_ids), facts.workload)
    if kind == "workload":
        return _least_loaded(_rotation_pool(facts), facts.workload)
    if kind == "random":
        pool = _rotation_pool(facts)
        return rng.choice(pool) if pool else None
    return None
