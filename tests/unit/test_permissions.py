"""Who may see, assign and resolve conversations on a channel account."""

from __future__ import annotations

import pytest

from server.domain import permissions
from server.domain.errors import Forbidden, Invalid
from server.domain.models import (
    AuthorizedUser,
    ChannelAccount,
    ChannelKind,
    Conversation,
    Role,
    Team,
    User,
)

ADMIN = User(id="u_admin", email="admin@example.com", name="Ada Admin", role=Role.ADMIN)
ALICE = User(id="u_alice", email="alice@example.com", name="Alice")
BOB = User(id="u_bob", email="bob@example.com", name="Bob")
CAROL = User(id="u_carol", email="carol@example.com", name="Carol")  # no grant at all
DAVE = User(id="u_dave", email="dave@example.com", name="Dave")  # granted, handles nothing
SUPER = User(id="u_super", email="super@example.com", name="Supervisor")

SALES = Team(id="t_sales", name="Sales", member_ids=[ALICE.id, BOB.id])
SUPPORT = Team(id="t_support", name="Support", member_ids=[BOB.id])


def account(**kwargs: object) -> ChannelAccount:
    acc = ChannelAccount(
        id="acc_mail",
        kind=ChannelKind.EMAIL,
        name="sales@example.com",
        authorized=[
            AuthorizedUser(user_id=ALICE.id, auto_assign=True),
            AuthorizedUser(user_id=BOB.id),
            AuthorizedUser(user_id=DAVE.id, handles_conversations=False, auto_assign=True),
            AuthorizedUser(
                user_id=SUPER.id,
                can_reassign=True,
                can_clear_assignment=True,
                can_resolve_all=True,
                auto_assign=True,
            ),
        ],
    )
    for key, value in kwargs.items():
        setattr(acc, key, value)
    return acc


def conversation(user_id: str | None = None, team_id: str | None = None) -> Conversation:
    return Conversation(
        id="cnv_1",
        account_id="acc_mail",
        channel=ChannelKind.EMAIL,
        contact_id="ct_1",
        assignee_user_id=user_id,
        assignee_team_id=team_id,
    )


ACC = account()


# --- seeing conversations ---------------------------------------------------------------


def test_admin_sees_every_account_even_without_a_grant() -> None:
    assert permissions.can_view(ADMIN, ChannelAccount(id="a", kind=ChannelKind.API, name="x"))


def test_agent_with_a_grant_sees_the_account() -> None:
    assert permissions.can_view(ALICE, ACC)


def test_agent_without_a_grant_does_not_see_the_account() -> None:
    assert not permissions.can_view(CAROL, ACC)


def test_grant_that_does_not_handle_conversations_hides_them() -> None:
    assert not permissions.can_view(DAVE, ACC)


def test_visible_account_ids_lists_only_the_accounts_the_agent_may_see() -> None:
    other = ChannelAccount(id="acc_wa", kind=ChannelKind.WHATSAPP, name="+4912345")
    third = account(id="acc_api", name="api")
    assert permissions.visible_account_ids(ALICE, [ACC, other, third]) == ["acc_mail", "acc_api"]
    assert permissions.visible_account_ids(ADMIN, [ACC, other]) == ["acc_mail", "acc_wa"]
    assert permissions.visible_account_ids(CAROL, [ACC, other]) == []


def test_check_view_names_the_account_in_its_refusal() -> None:
    with pytest.raises(Forbidden, match=r"You are not authorized on account sales@example\.com"):
        permissions.check_view(CAROL, ACC)
    permissions.check_view(ALICE, ACC)


def test_anyone_who_sees_the_account_may_reply_tag_note_and_snooze() -> None:
    permissions.check_act(BOB, ACC)
    permissions.check_act(ADMIN, ACC)
    with pytest.raises(Forbidden):
        permissions.check_act(DAVE, ACC)


# --- assigning --------------------------------------------------------------------------


def test_agent_may_take_an_unassigned_conversation_for_themselves() -> None:
    permissions.check_assign(ALICE, ACC, conversation(), to_user=ALICE, to_team=None)


def test_agent_may_take_an_unassigned_conversation_with_their_team() -> None:
    permissions.check_assign(ALICE, ACC, conversation(), to_user=ALICE, to_team=SALES)


def test_agent_without_can_reassign_cannot_take_a_conversation_from_a_colleague() -> None:
    with pytest.raises(Forbidden, match="assigned to someone else"):
        permissions.check_assign(ALICE, ACC, conversation(BOB.id), to_user=ALICE, to_team=None)


def test_agent_without_can_reassign_cannot_hand_a_conversation_to_a_colleague() -> None:
    with pytest.raises(Forbidden, match="someone other than yourself"):
        permissions.check_assign(ALICE, ACC, conversation(ALICE.id), to_user=BOB, to_team=None)


def test_agent_without_can_reassign_cannot_assign_to_a_team() -> None:
    with pytest.raises(Forbidden, match="can reassign"):
        permissions.check_assign(ALICE, ACC, conversation(), to_user=None, to_team=SALES)


def test_agent_may_pick_a_conversation_from_their_own_teams_queue() -> None:
    permissions.check_assign(
        ALICE, ACC, conversation(team_id=SALES.id), to_user=ALICE, to_team=SALES
    )


def test_agent_cannot_pull_a_conversation_out_of_another_teams_queue() -> None:
    with pytest.raises(Forbidden):
        permissions.check_assign(
            ALICE, ACC, conversation(team_id=SUPPORT.id), to_user=ALICE, to_team=None
        )


def test_supervisor_with_can_reassign_moves_conversations_between_colleagues() -> None:
    permissions.check_assign(SUPER, ACC, conversation(BOB.id), to_user=ALICE, to_team=None)
    permissions.check_assign(SUPER, ACC, conversation(BOB.id), to_user=None, to_team=SUPPORT)


def test_admin_may_assign_anything_to_anyone_authorized() -> None:
    permissions.check_assign(ADMIN, ACC, conversation(BOB.id), to_user=ALICE, to_team=SALES)
    permissions.check_assign(ADMIN, ACC, conversation(BOB.id), to_user=None, to_team=None)


def test_agent_may_unassign_their_own_conversation() -> None:
    permissions.check_assign(ALICE, ACC, conversation(ALICE.id), to_user=None, to_team=None)


def test_agent_without_can_clear_assignment_cannot_unassign_a_colleague() -> None:
    with pytest.raises(Forbidden, match="can clear assignment"):
        permissions.check_assign(ALICE, ACC, conversation(BOB.id), to_user=None, to_team=None)


def test_agent_with_can_clear_assignment_may_unassign_a_colleague() -> None:
    permissions.check_assign(SUPER, ACC, conversation(BOB.id), to_user=None, to_team=None)


def test_agent_who_cannot_see_the_account_cannot_assign_at_all() -> None:
    with pytest.raises(Forbidden, match="not authorized on account"):
        permissions.check_assign(CAROL, ACC, conversation(), to_user=CAROL, to_team=None)


def test_conversation_cannot_go_to_someone_not_authorized_on_the_account() -> None:
    with pytest.raises(Invalid, match="Carol is not authorized on this account"):
        permissions.check_assign(ADMIN, ACC, conversation(), to_user=CAROL, to_team=None)
    with pytest.raises(Invalid, match="Dave is not authorized"):
        permissions.check_assign(SUPER, ACC, conversation(), to_user=DAVE, to_team=None)


def test_team_and_member_must_go_together() -> None:
    with pytest.raises(Invalid, match="Alice is not a member of team Support"):
        permissions.check_assign(ADMIN, ACC, conversation(), to_user=ALICE, to_team=SUPPORT)


def test_assigning_with_the_wrong_account_is_refused() -> None:
    other = account(id="acc_other")
    with pytest.raises(Invalid):
        permissions.check_assign(ADMIN, other, conversation(), to_user=ALICE, to_team=None)


# --- resolving --------------------------------------------------------------------------


def test_agent_may_resolve_their_own_and_unassigned_conversations() -> None:
    permissions.check_resolve(ALICE, ACC, conversation(ALICE.id))
    permissions.check_resolve(ALICE, ACC, conversation())


def test_agent_cannot_resolve_a_colleagues_conversation() -> None:
    with pytest.raises(Forbidden, match="can resolve all"):
        permissions.check_resolve(ALICE, ACC, conversation(BOB.id))


def test_team_assigned_conversation_is_not_unassigned_for_resolving() -> None:
    with pytest.raises(Forbidden):
        permissions.check_resolve(ALICE, ACC, conversation(team_id=SALES.id))


def test_can_resolve_all_and_admins_resolve_anything() -> None:
    permissions.check_resolve(SUPER, ACC, conversation(BOB.id))
    permissions.check_resolve(ADMIN, ACC, conversation(BOB.id))


def test_outsider_cannot_resolve_even_an_unassigned_conversation() -> None:
    with pytest.raises(Forbidden, match="not authorized on account"):
        permissions.check_resolve(CAROL, ACC, conversation())


# --- auto-assignment --------------------------------------------------------------------


def test_auto_assign_picks_only_handlers_marked_as_targets() -> None:
    # Bob handles conversations but is not a target; Dave is a target but handles nothing.
    assert permissions.auto_assign_candidates(ACC) == [ALICE.id, SUPER.id]


def test_account_without_targets_has_no_auto_assign_candidates() -> None:
    assert permissions.auto_assign_candidates(account(authorized=[])) == []
