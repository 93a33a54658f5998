"""WhatsApp group rules: permissions, the 8-participant cap, sending into suspended, deleted or
not yet created groups, the system lines each change writes, and the group conversation's
differences (no window, no auto-reply)."""

from __future__ import annotations

import copy

import pytest

from server.domain import commands as c
from server.domain import groups
from server.domain.conversation import Outcome, decide
from server.domain.errors import Conflict, Forbidden, Invalid
from server.domain.groups import GroupChange
from server.domain.models import (
    AuthorizedUser,
    ChannelAccount,
    ChannelKind,
    Contact,
    Conversation,
    GroupInfo,
    GroupState,
    Role,
    Template,
    TemplateApproval,
    TemplateType,
    User,
)
from server.transports.whatsapp.parse import PayloadError, parse_cloud

NOW = 1_700_000_000.0
ACCOUNT = ChannelAccount(
    id="acc_wa",
    kind=ChannelKind.WHATSAPP,
    name="Shop",
    authorized=[AuthorizedUser("usr_m"), AuthorizedUser("usr_r")],
    settings={
        "provider": "cloud",
        "official_business_account": True,
        "phone_number_id": "1",
        # An auto-reply that fires on every message of a 1:1 thread.
        "auto_reply": {"enabled": True, "trigger": "always", "message": "Thanks!"},
    },
)
MANAGER = User(id="usr_m", email="m@x", name="Mia", can_manage_groups=True)
REPLIER = User(id="usr_r", email="r@x", name="Rui")
ADMIN = User(id="usr_a", email="a@x", name="Ada", role=Role.ADMIN)


def _group(**changes: object) -> GroupInfo:
    group = groups.new_group(
        request_id="req1",
        host_number="+15550001111",
        subject="Buyers",
        description="",
        join_approval=True,
        created_by="usr_m",
    )
    groups.apply(
        group, GroupChange("created", group_id="g1", invite_link="https://l"), by=None, now=NOW
    )
    for name, value in changes.items():
        setattr(group, name, value)
    return group


def _started() -> tuple[Conversation, Outcome]:
    contact = Contact(id="ct_g", name="Buyers", handles={"whatsapp_group_request": "req1"})
    start = c.StartGroup(by=MANAGER, account=ACCOUNT, contact=contact, group=_group())
    outcome = decide("cnv_g", None, start, now=NOW)
    return outcome.conversation, outcome


def test_only_users_with_the_permission_manage_groups_admins_included() -> None:
    groups.check_manage(MANAGER, ACCOUNT)
    for user in (REPLIER, ADMIN):
        with pytest.raises(Forbidden) as refused:
            groups.check_manage(user, ACCOUNT)
        assert refused.value.code == "group_permission"
    stranger = User(id="usr_x", email="x@x", name="X", can_manage_groups=True)
    with pytest.raises(Forbidden):
        groups.check_manage(stranger, ACCOUNT)  # not authorized on the account at all


def test_only_official_business_cloud_numbers_host_groups() -> None:
    assert groups.eligible(ACCOUNT)
    plain = copy.deepcopy(ACCOUNT)
    plain.settings["official_business_account"] = False
    twilio = copy.deepcopy(ACCOUNT)
    twilio.settings["provider"] = "twilio"
    for account in (plain, twilio):
        with pytest.raises(Invalid) as refused:
            groups.check_eligible(account)
        assert refused.value.code == "group_sender_not_eligible"


def test_subject_and_description_limits() -> None:
    assert groups.clean_subject("  Brake   kit ") == "Brake kit"
    with pytest.raises(Invalid):
        groups.clean_subject("   ")
    with pytest.raises(Invalid):
        groups.clean_subject("x" * 129)
    with pytest.raises(Invalid):
        groups.clean_description("x" * 2049)


def test_eight_participants_at_most_the_host_included() -> None:
    group = _group()
    assert groups.free_slots(group) == 7
    change = GroupChange("joined", participants=tuple((f"4915100{n}", f"M{n}") for n in range(7)))
    groups.apply(group, change, by=None, now=NOW)
    assert len(group.participants) == 8
    with pytest.raises(Conflict) as refused:
        groups.check_room(group)
    assert refused.value.code == "group_full"


def test_sending_into_a_group_has_no_window_but_respects_its_state() -> None:
    approved = Template(
        id="t", account_id="acc_wa", name="Hi", content="Hi", type=TemplateType.REPLY
    )
    approved.approval = TemplateApproval.APPROVED
    groups.check_send(_group(), None)  # free-form at any time
    groups.check_send(_group(), approved)  # a reply template is fine: no window
    pending = copy.deepcopy(approved)
    pending.approval = TemplateApproval.PENDING
    cases = [
        (_group(), pending, "template_not_approved"),
        (_group(suspended=True), None, "group_suspended"),
        (_group(state=GroupState.DELETED), None, "group_deleted"),
        (_group(state=GroupState.CREATING), None, "group_not_ready"),
    ]
    for group, template, code in cases:
        with pytest.raises(Invalid) as refused:
            groups.check_send(group, template)
        assert refused.value.code == code
    groups.check_send(_group(suspended=True), None, note=True)  # notes stay internal
    with pytest.raises(Invalid):
        groups.check_send(_group(state=GroupState.DELETED), None, note=True)  # read-only


def test_each_change_writes_one_line_and_repeats_write_none() -> None:
    group = _group()
    joined = GroupChange("joined", participants=(("4915100", "Jonas"),))
    assert groups.apply(group, joined, by=None, now=NOW)[0][0] == (
        "Jonas (+4915100) joined the group"
    )
    assert groups.apply(group, joined, by=None, now=NOW) == []  # Meta redelivered it
    removed = GroupChange("removed", participants=(("4915100", ""),))
    assert groups.apply(group, removed, by="Mia", now=NOW)[0][0] == (
        "Jonas (+4915100) was removed by Mia"
    )
    assert groups.apply(group, removed, by=None, now=NOW) == []  # the confirming webhook
    request = GroupChange(
        "join_requested", participants=(("4915200", "Ana"),), join_request_id="r1"
    )
    assert "asked to join" in groups.apply(group, request, by=None, now=NOW)[0][0]
    assert [r.wa_id for r in group.join_requests] == ["4915200"]
    settings = GroupChange("settings", subject="New", description="About")
    texts = [t for t, _ in groups.apply(group, settings, by="Mia", now=NOW)]
    assert texts == [
        "Mia changed the group subject to 'New'",
        "Mia changed the group description to 'About'",
    ]
    assert groups.apply(group, settings, by=None, now=NOW) == []
    left = GroupChange("left", participants=(("15550001111", ""),))
    assert groups.apply(group, left, by=None, now=NOW)[0][0].endswith("left the group")
    deleted = groups.apply(group, GroupChange("deleted"), by="Mia", now=NOW)
    assert deleted[0][0].startswith("Mia deleted the group on Tue 14 Nov 2023 22:13 UTC")
    assert group.state == GroupState.DELETED and group.deleted_by == "Mia"
    assert groups.apply(group, GroupChange("deleted"), by=None, now=NOW) == []


def test_a_group_conversation_gets_no_window_and_no_auto_reply() -> None:
    conversation, _ = _started()
    assert conversation.group is not None and conversation.group.state == GroupState.ACTIVE
    member = Contact(id="ct_m", name="Jonas", phone="+4915100")
    inbound = c.AppendInbound(
        account=ACCOUNT,
        contact=member,
        provider_message_id="wamid.1",
        text="Hi all",
        data={"group_sender": {"phone": "+4915100", "name": "Jonas"}},
    )
    outcome = decide("cnv_g", conversation, inbound, now=NOW)
    assert [m.kind for m in outcome.new_messages] == ["inbound"]  # no auto-reply
    assert outcome.new_messages[0].sender.name == "Jonas"
    assert outcome.conversation.window_expires_at is None
    reply = c.PostMessage(by=REPLIER, account=ACCOUNT, text="Hello")
    later = decide("cnv_g", outcome.conversation, reply, now=NOW + 3 * 86400)
    assert later.outbox  # days later, no template needed


def test_only_a_manager_changes_the_group_and_webhooks_need_nobody() -> None:
    conversation, _ = _started()
    change = GroupChange("deleted")
    with pytest.raises(Forbidden):
        decide("cnv_g", conversation, c.ChangeGroup(ACCOUNT, change, by=REPLIER), now=NOW)
    outcome = decide("cnv_g", conversation, c.ChangeGroup(ACCOUNT, change), now=NOW)
    assert outcome.conversation.group is not None
    assert outcome.conversation.group.deleted_by == "WhatsApp"
    assert conversation.group is not None and conversation.group.state == GroupState.ACTIVE
    with pytest.raises(Forbidden):
        contact = Contact(id="ct_h", name="X")
        decide("cnv_h", None, c.StartGroup(REPLIER, ACCOUNT, contact, _group()), now=NOW)


def test_group_webhooks_parse_into_changes_and_bad_ones_are_refused() -> None:
    def hook(field: str, item: dict[str, object]) -> dict[str, object]:
        value = {"metadata": {"phone_number_id": "1"}, "groups": [item]}
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": "w", "changes": [{"field": field, "value": value}]}],
        }

    parsed = parse_cloud(
        hook(
            "group_participants_update",
            {
                "group_id": "g1",
                "type": "group_participants_remove",
                "initiated_by": "participant",
                "removed_participants": [{"wa_id": "4915100"}],
            },
        ),
        "1",
    )
    assert parsed.groups[0].change.kind == "left"
    assert parsed.groups[0].change.participants == (("4915100", ""),)
    failed = parse_cloud(
        hook(
            "group_lifecycle_update",
            {"type": "group_create", "request_id": "r", "errors": [{"code": 1, "title": "No"}]},
        ),
        "1",
    )
    assert failed.groups[0].change.kind == "create_failed"
    assert failed.groups[0].change.reason == "WhatsApp error 1: No"
    other_number = parse_cloud(
        hook("group_status_update", {"group_id": "g", "type": "group_suspend"}), "2"
    )
    assert other_number.groups == [] and other_number.skipped == 1
    with pytest.raises(PayloadError):
        parse_cloud(hook("group_status_update", {"type": "group_suspend"}), "1")
    with pytest.raises(PayloadError):
        parse_cloud(
            hook(
                "group_participants_update",
                {
                    "group_id": "g1",
                    "type": "group_participants_add",
                    "added_participants": [{"wa_id": "not-a-number"}],
                },
            ),
            "1",
        )
