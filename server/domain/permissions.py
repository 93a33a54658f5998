"""Who may see and act on a channel account's conversations (the guide's "Authorized Users").

Admins may do everything. Everyone else needs a grant on the account (`AuthorizedUser`) with
`handles_conversations` set; the other flags widen what they may do with conversations that are
not theirs. Every check is a pure function of the records passed in.
"""

from __future__ import annotations

from collections.abc import Iterable

from server.domain.errors import Forbidden, Invalid
from server.domain.models import (
    AuthorizedUser,
    ChannelAccount,
    Conversation,
    Role,
    Team,
    User,
)


def _grant(user: User, account: ChannelAccount) -> AuthorizedUser | None:
    grant = account.grant(user.id)
    if grant is None or not grant.handles_conversations:
        return None
    return grant


def _is_admin(user: User) -> bool:
    return user.role == Role.ADMIN


def can_view(user: User, account: ChannelAccount) -> bool:
    """Admins see every account; agents only those where they handle conversations."""
    return _is_admin(user) or _grant(user, account) is not None


def visible_account_ids(user: User, accounts: Iterable[ChannelAccount]) -> list[str]:
    """The ids of the accounts whose conversations `user` may see, in the given order."""
    return [account.id for account in accounts if can_view(user, account)]


def check_view(user: User, account: ChannelAccount) -> None:
    if not can_view(user, account):
        raise Forbidden(f"You are not authorized on account {account.name}")


def check_act(user: User, account: ChannelAccount) -> None:
    """Reply, tag, add a note, snooze, link a customer: anyone who can view may do these."""
    check_view(user, account)


def _check_same_account(account: ChannelAccount, conversation: Conversation) -> None:
    if conversation.account_id != account.id:
        raise Invalid(f"This conversation does not belong to account {account.name}")


def check_assign(
    user: User,
    account: ChannelAccount,
    conversation: Conversation,
    *,
    to_user: User | None,
    to_team: Team | None,
) -> None:
    """May `user` set the conversation's assignee to (`to_user`, `to_team`)?

    Both None clears the assignment. Both set means "this team, handled by this member"; the
    member must then belong to the team. A target user must be authorized on the account.
    """
    _check_same_account(account, conversation)
    if not _is_admin(user):
        _check_agent_assign(user, account, conversation, to_user=to_user, to_team=to_team)
    if to_user is not None and not can_view(to_user, account):
        raise Invalid(f"{to_user.name} is not authorized on this account")
    if to_user is not None and to_team is not None and to_user.id not in to_team.member_ids:
        raise Invalid(f"{to_user.name} is not a member of team {to_team.name}")


def _check_agent_assign(
    user: User,
    account: ChannelAccount,
    conversation: Conversation,
    *,
    to_user: User | None,
    to_team: Team | None,
) -> None:
    check_view(user, account)
    grant = _grant(user, account)
    assert grant is not None  # check_view passed and the user is not an admin
    current_user = conversation.assignee_user_id
    current_team = conversation.assignee_team_id

    if to_user is None and to_team is None:
        if current_user is None and current_team is None:
            return  # already unassigned: nothing changes
        if current_user == user.id:
            return  # giving back your own conversation
        if not grant.can_clear_assignment:
            raise Forbidden(
                f"You need the can clear assignment permission on account {account.name} "
                "to unassign a conversation that is not yours"
            )
        return

    if current_user is not None:
        taken_from_other = current_user != user.id
    elif current_team is not None:
        # Picking a conversation out of your own team's queue (keeping the team) is taking it
        # for yourself, not taking it from someone else.
        own_queue = (
            to_team is not None and to_team.id == current_team and user.id in to_team.member_ids
        )
        taken_from_other = not own_queue
    else:
        taken_from_other = False
    for_self = to_user is not None and to_user.id == user.id

    if (taken_from_other or not for_self) and not grant.can_reassign:
        if taken_from_other:
            raise Forbidden(
                "This conversation is assigned to someone else; you need the can reassign "
                f"permission on account {account.name} to change its assignee"
            )
        raise Forbidden(
            f"You need the can reassign permission on account {account.name} "
            "to assign conversations to someone other than yourself"
        )


def check_resolve(user: User, account: ChannelAccount, conversation: Conversation) -> None:
    """Resolve (or reopen): admins, `can_resolve_all`, or your own / unassigned conversations.

    A conversation assigned only to a team counts as assigned, not as unassigned.
    """
    _check_same_account(account, conversation)
    if _is_admin(user):
        return
    check_view(user, account)
    grant = _grant(user, account)
    assert grant is not None
    if grant.can_resolve_all:
        return
    assignee = conversation.assignee_user_id
    if assignee == user.id:
        return
    if assignee is None and conversation.assignee_team_id is None:
        return
    raise Forbidden(
        "This conversation is assigned to someone else; you need the can resolve all "
        f"permission on account {account.name} to change its status"
    )


def auto_assign_candidates(account: ChannelAccount) -> list[str]:
    """User ids that automatic assignment may pick, in grant order."""
    return [
        grant.user_id
        for grant in account.authorized
        if grant.handles_conversations and grant.auto_assign
    ]
