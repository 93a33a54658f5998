"""The rule-based assistant: what an agent sees in the note for concrete customer messages."""

from __future__ import annotations

import pytest

from server.domain.analysis import (
    Analysis,
    AnalysisContext,
    RuleBasedAnalyzer,
    TagInfo,
    analyze_text,
    assistant_enabled,
    extract_references,
    note_client_key,
    note_text,
    validate_settings,
)
from server.domain.errors import Invalid

TAGS = (
    TagInfo("tag_urgent", "Urgent", "Needs an answer today"),
    TagInfo("tag_quote", "Quote", "A price request"),
    TagInfo("tag_order", "Order", "About an existing order"),
    TagInfo("tag_billing", "Billing", "Invoices and payments"),
    TagInfo("tag_vip", "VIP", "Key account"),
    TagInfo("tag_late", "Late delivery", "Shipment arrived after the promised date"),
)
CONTEXT = AnalysisContext(tags=TAGS)


def _analyze(text: str, context: AnalysisContext = CONTEXT) -> Analysis:
    return analyze_text(text, context)


def _tags(analysis: Analysis) -> list[str]:
    return [t.name for t in analysis.suggested_tags]


def _actions(analysis: Analysis) -> list[str]:
    return [a.type for a in analysis.actions]


def test_an_angry_urgent_message_about_an_order_gets_everything() -> None:
    analysis = _analyze(
        "This is unacceptable!! My order #4411 still hasn't arrived and I need it TODAY. "
        "Please fix this ASAP!"
    )
    assert analysis.sentiment == "frustrated"
    assert analysis.urgent is True
    assert [(r.kind, r.value, r.text) for r in analysis.references] == [
        ("order", "4411", "order #4411")
    ]
    assert set(_tags(analysis)) == {"Order", "Urgent"}
    assert _actions(analysis)[:3] == ["assign_to_me", "set_pending", "link_customer"]
    add_tag = [a for a in analysis.actions if a.type == "add_tag"]
    assert {a.tag_id for a in add_tag} == {"tag_order", "tag_urgent"}
    assert {a.label for a in add_tag} == {"Add tag Order", "Add tag Urgent"}
    assert any("unacceptable" in s for s in analysis.signals)
    assert analysis.has_findings


@pytest.mark.parametrize(
    ("text", "sentiment", "urgent"),
    [
        ("Thanks, that worked!", "positive", False),
        ("Excellent service, thank you so much", "positive", False),
        ("I'm not happy with how this was handled", "frustrated", False),
        ("No problem, take your time", "positive", False),
        ("No thanks, good morning", "neutral", False),
        ("What are your opening hours during the holidays?", "neutral", False),
        ("Please call me back immediately, the line is down", "urgent", True),
        ("It's not urgent, whenever you can", "neutral", False),
        ("WHY IS NOTHING WORKING, THIS IS TERRIBLE", "frustrated", True),
        ("I LOVE IT!!", "positive", False),
        # Spanish and Portuguese, with and without accents.
        ("Estoy muy enojado, el pedido llegó dañado. ¡Es urgente!", "frustrated", True),
        ("Estoy muy enojado, el pedido llego danado. Es urgente", "frustrated", True),
        ("Muchas gracias, todo perfecto", "positive", False),
        ("O pedido está atrasado e é urgente, preciso hoje", "frustrated", True),
        ("Preciso disso imediatamente", "urgent", True),
        ("Obrigado, ficou ótimo", "positive", False),
    ],
)
def test_sentiment_and_urgency(text: str, sentiment: str, urgent: bool) -> None:
    analysis = _analyze(text)
    assert (analysis.sentiment, analysis.urgent) == (sentiment, urgent)


def test_shouting_alone_is_not_urgent_but_makes_anger_urgent() -> None:
    calm = _analyze("This is terrible")
    shouted = _analyze("THIS IS TERRIBLE!!!")
    assert (calm.sentiment, calm.urgent) == ("frustrated", False)
    assert (shouted.sentiment, shouted.urgent) == ("frustrated", True)
    assert "exclamation marks" in shouted.signals and "capital letters" in shouted.signals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Where is order #12345?", [("order", "12345")]),
        ("Our PO-778 was approved", [("order", "PO-778")]),
        ("Please revise quote Q-2024-17", [("quote", "Q-2024-17")]),
        ("Is invoice INV-0042 paid?", [("invoice", "INV-0042")]),
        ("invoice no. 991 and order number 55", [("invoice", "991"), ("order", "55")]),
        ("El pedido nº 5521 llegó", [("order", "5521")]),
        ("A fatura #77 e o orçamento #78", [("invoice", "77"), ("quote", "78")]),
        ("order A1234 please", [("order", "A1234")]),
        # Once, however often it is named.
        ("Order #4411. Again: order #4411!", [("order", "4411")]),
        ("invoice INV-0042 (INV-0042)", [("invoice", "INV-0042")]),
    ],
)
def test_references_are_extracted(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(r.kind, r.value) for r in extract_references(text)] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Any discount if we order 100 units?",  # a quantity, not an order number
        "Order 1234, placed Monday",  # a bare number is ambiguous: not taken
        "Our Q2 results look fine",
        "ticket #3 from the portal",
        "so 5 of them broke",
    ],
)
def test_no_reference_where_there_is_none(text: str) -> None:
    assert extract_references(text) == []


def test_tags_come_only_from_the_workspace_and_skip_applied_ones() -> None:
    text = "Our shipment arrived after the promised date, the late delivery hurt us"
    assert _tags(_analyze(text)) == ["Late delivery"]
    # A word that names no existing tag never becomes one.
    assert _tags(_analyze("Please check the warranty claim")) == []
    assert _tags(_analyze("Can you help with my orders?")) == ["Order"]
    already = AnalysisContext(tags=TAGS, applied_tag_ids=frozenset({"tag_order"}))
    assert _tags(_analyze("Can you help with my order?", already)) == []
    # A negated tag name does not suggest the tag.
    assert _tags(_analyze("This is not urgent")) == []
    # One loose description word is not enough ("account" alone is not the VIP tag).
    assert _tags(_analyze("I can't log in to my account")) == []
    assert _tags(_analyze("Hello", AnalysisContext())) == []


def test_actions_follow_the_findings_and_the_conversation() -> None:
    text = "URGENT: invoice INV-0042 is wrong, fix it asap"
    fresh = _analyze(text)
    assert "assign_to_me" in _actions(fresh) and "set_pending" in _actions(fresh)
    assert "link_customer" in _actions(fresh)
    handled = _analyze(
        text,
        AnalysisContext(tags=TAGS, assigned=True, customer_linked=True, status="pending"),
    )
    assert not {"assign_to_me", "set_pending", "link_customer"} & set(_actions(handled))
    assert _actions(_analyze("Thanks a lot!")) == []


def test_a_plain_message_has_nothing_to_report() -> None:
    for text in ("Hello", "We need 40 oil filters by Friday. Possible?", "History line 001", ""):
        analysis = _analyze(text)
        assert analysis.sentiment == "neutral" and not analysis.has_findings, text


async def test_the_analyzer_protocol_and_the_note_it_produces() -> None:
    analyzer = RuleBasedAnalyzer()
    analysis = await analyzer.analyze("My order #4411 is late, this is unacceptable!", CONTEXT)
    assert analysis.analyzer == analyzer.name == "rules-v1"
    data = analysis.to_dict()
    assert data["version"] == 1
    assert data["sentiment"] == "frustrated"
    assert data["references"] == [{"kind": "order", "value": "4411", "text": "order #4411"}]
    assert {"type": "assign_to_me", "label": "Assign to me"} in data["actions"]
    assert Analysis.from_dict(data) == analysis
    text = note_text(analysis)
    assert text.splitlines()[0] == "Sentiment: frustrated"
    assert "References: order 4411" in text
    assert "Suggested tags: Order" in text
    assert note_client_key("msg_1") == "assistant:msg_1"


def test_the_account_switch() -> None:
    assert assistant_enabled({}) is True
    assert assistant_enabled({"assistant": {"enabled": True}}) is True
    assert assistant_enabled({"assistant": {"enabled": False}}) is False
    assert validate_settings({"enabled": False}) == {"enabled": False}
    assert validate_settings({}) == {"enabled": True}
    for bad in ({"enabled": "no"}, {"enabled": False, "model": "x"}, "off"):
        with pytest.raises(Invalid):
            validate_settings(bad)
