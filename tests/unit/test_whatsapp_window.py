"""The 24-hour window: free-form only within 24 h of the customer's last message, otherwise an
approved template of the right type; and the conversation rule that applies it."""

from __future__ import annotations

import orjson
import pytest

from server.cluster.codec import decode_command, encode_command
from server.domain import commands as c
from server.domain import whatsapp_window as window
from server.domain.conversation import decide
from server.domain.errors import Invalid
from server.domain.models import (
    AuthorizedUser,
    ChannelAccount,
    ChannelKind,
    Contact,
    Conversation,
    Template,
    TemplateApproval,
    TemplateType,
    User,
)

NOW = 1_800_000_000.0
HOUR = 3600.0


def _template(
    kind: TemplateType, approval: TemplateApproval | None = TemplateApproval.APPROVED
) -> Template:
    return Template(
        id="tpl_1", account_id="acc_wa", name="Hi", content="Hi", type=kind, approval=approval
    )


def _code(last_inbound_at: float, template: Template | None) -> str | None:
    try:
        window.check_send(last_inbound_at, NOW, template)
    except Invalid as refusal:
        return refusal.code
    return None


def test_the_window_closes_24_hours_after_the_customers_last_message() -> None:
    assert window.expires_at(NOW) == NOW + 24 * HOUR
    assert window.expires_at(0.0) is None  # the customer never wrote
    assert window.is_open(NOW - 23.9 * HOUR, NOW)
    assert not window.is_open(NOW - 24 * HOUR, NOW)
    assert not window.is_open(0.0, NOW)


def test_free_form_only_inside_the_window() -> None:
    assert _code(NOW - 2 * HOUR, None) is None
    assert _code(NOW - 25 * HOUR, None) == "window_closed"
    assert _code(0.0, None) == "window_closed"


@pytest.mark.parametrize(
    ("last_inbound", "kind", "expected"),
    [
        (NOW - 1 * HOUR, TemplateType.REPLY, None),  # inside: any approved template
        (NOW - 25 * HOUR, TemplateType.WINDOW, None),
        (NOW - 25 * HOUR, TemplateType.START, None),
        (NOW - 25 * HOUR, TemplateType.REPLY, "window_closed"),
        (0.0, TemplateType.START, None),  # a new conversation starts with a Start template
        (0.0, TemplateType.WINDOW, "window_closed"),
    ],
)
def test_which_template_types_may_go_out(
    last_inbound: float, kind: TemplateType, expected: str | None
) -> None:
    assert _code(last_inbound, _template(kind)) == expected


@pytest.mark.parametrize(
    "approval",
    [None, TemplateApproval.PENDING, TemplateApproval.REJECTED, TemplateApproval.PAUSED],
)
def test_only_approved_templates_go_out(approval: TemplateApproval | None) -> None:
    template = _template(TemplateType.WINDOW, approval)
    assert _code(NOW - 1 * HOUR, template) == "template_not_approved"
    assert _code(NOW - 25 * HOUR, template) == "template_not_approved"


AGENT = User(id="usr_a", email="a@x.test", name="Ann")
ACCOUNT = ChannelAccount(
    id="acc_wa", kind=ChannelKind.WHATSAPP, name="WA", authorized=[AuthorizedUser("usr_a")]
)
CONTACT = Contact(id="ct_1", name="Bo", phone="+15550001", handles={"whatsapp": "+15550001"})


def _conversation_at(inbound_at: float) -> Conversation:
    command = c.AppendInbound(account=ACCOUNT, contact=CONTACT, provider_message_id="w1", text="hi")
    return decide("cnv_1", None, command, now=inbound_at).conversation


def test_an_inbound_message_sets_window_expires_at() -> None:
    conversation = _conversation_at(NOW)
    assert conversation.window_expires_at == NOW + 24 * HOUR


def test_a_reply_after_the_window_is_refused_but_a_note_is_not() -> None:
    state = _conversation_at(NOW - 25 * HOUR)
    reply = c.PostMessage(by=AGENT, account=ACCOUNT, text="Still there?")
    with pytest.raises(Invalid) as refused:
        decide("cnv_1", state, reply, now=NOW)
    assert refused.value.code == "window_closed"
    note = c.PostMessage(by=AGENT, account=ACCOUNT, text="Call them instead", note=True)
    assert decide("cnv_1", state, note, now=NOW).new_messages
    template = c.PostMessage(
        by=AGENT,
        account=ACCOUNT,
        text="Hi Bo",
        template=_template(TemplateType.WINDOW),
        data={"template": {"name": "hi", "params": []}},
    )
    sent = decide("cnv_1", state, template, now=NOW)
    assert sent.new_messages[0].data == {"template": {"name": "hi", "params": []}}
    assert len(sent.outbox) == 1


def test_a_template_reply_survives_forwarding_to_the_owner_node() -> None:
    """Cluster mode forwards commands as JSON: the template and its data must come back."""
    command = c.PostMessage(
        by=AGENT,
        account=ACCOUNT,
        text="Hi Bo",
        template=_template(TemplateType.WINDOW),
        data={"template": {"name": "hi", "params": ["Bo"]}},
    )
    back = decode_command(orjson.loads(orjson.dumps(encode_command(command))))
    assert isinstance(back, c.PostMessage) and back.template is not None
    assert back.template.approval == TemplateApproval.APPROVED
    assert back.template.type == TemplateType.WINDOW
    assert back.data == command.data
