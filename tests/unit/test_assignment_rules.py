"""Assignment rules: who gets a new conversation."""

from __future__ import annotations

import random

import pytest

from server.domain.assignment import Facts, choose_assignee, validate_rules
from server.domain.errors import Invalid
from server.domain.models import AuthorizedUser, ChannelAccount, ChannelKind, Customer, Team, User

USERS = {
    u.id: u
    for u in (
        User(id="u_ann", email="ann@x", name="Ann"),
        User(id="u_ben", email="ben@x", name="Ben"),
        User(id="u_cat", email="cat@x", name="Cat"),
        User(id="u_out", email="out@x", name="Outsider"),
    )
}
ACCOUNT = ChannelAccount(
    id="acc",
    kind=ChannelKind.API,
    name="Shop",
    authorized=[
        AuthorizedUser("u_ann", auto_assign=True),
        AuthorizedUser("u_ben", auto_assign=True),
        AuthorizedUser("u_cat", auto_assign=False),  # sees conversations, never auto-assigned
    ],
)


def facts(**extra: object) -> Facts:
    return Facts(account=ACCOUNT, users=USERS, **extra)  # type: ignore[arg-type]


def test_the_customers_salesman_gets_it_when_authorized() -> None:
    customer = Customer(id="c", name="Acme", salesman_id="u_cat")
    assert choose_assignee([{"type": "customer_salesman"}], facts(customer=customer)) == "u_cat"


def test_a_salesman_not_authorized_on_the_account_falls_through_to_the_next_rule() -> None:
    customer = Customer(id="c", name="Acme", salesman_id="u_out")
    rules = [{"type": "customer_salesman"}, {"type": "workload"}]
    assert choose_assignee(rules, facts(customer=customer, workload={"u_ann": 3})) == "u_ben"


def test_a_custom_field_may_name_the_user_by_email() -> None:
    customer = Customer(id="c", name="Acme", custom_fields={"account_manager": "BEN@x"})
    rules = [{"type": "customer_field", "field": "account_manager"}]
    assert choose_assignee(rules, facts(customer=customer)) == "u_ben"


def test_workload_rotation_picks_the_least_loaded_auto_assign_user() -> None:
    rules = [{"type": "workload"}]
    assert choose_assignee(rules, facts(workload={"u_ann": 4, "u_ben": 1, "u_cat": 0})) == "u_ben"


def test_rotation_prefers_online_agents() -> None:
    rules = [{"type": "workload"}]
    chosen = choose_assignee(rules, facts(workload={"u_ann": 9}, online=frozenset({"u_ann"})))
    assert chosen == "u_ann"


def test_latest_assignee_returns_to_the_same_person() -> None:
    assert (
        choose_assignee([{"type": "latest_assignee"}], facts(latest_assignee_id="u_cat")) == "u_cat"
    )


def test_team_rule_rotates_within_the_team() -> None:
    team = Team(id="t", name="Sales", member_ids=["u_ben", "u_cat"])
    rules = [{"type": "team", "team_id": "t"}]
    assert choose_assignee(rules, facts(teams={"t": team})) == "u_ben"


def test_random_only_draws_auto_assign_users() -> None:
    rng = random.Random(1)
    drawn = {choose_assignee([{"type": "random"}], facts(), rng) for _ in range(50)}
    assert drawn == {"u_ann", "u_ben"}


def test_no_rule_matching_leaves_it_unassigned() -> None:
    assert choose_assignee([{"type": "customer_salesman"}], facts()) is None


def test_rules_are_validated() -> None:
    with pytest.raises(Invalid):
        validate_rules([{"type": "astrology"}])
    with pytest.raises(Invalid):
        validate_rules([{"type": "customer_field"}])
    assert validate_rules([{"type": "workload"}]) == [{"type": "workload"}]
