"""Template variables and the composer's `/` picker."""

from __future__ import annotations

import pytest

from server.domain.errors import Invalid
from server.domain.models import Template, TemplateType
from server.domain.templates import VARIABLES, render, search, variables_in

QUOTE = "Hello {{customer_name}},\nYour quote {{ quote_number }} is ready.\n{{user_name}}"


def test_documented_variables_are_known() -> None:
    assert set(VARIABLES) >= {"customer_name", "quote_number", "user_name", "company_name"}


def test_variables_are_listed_once_in_order_of_first_use() -> None:
    content = "{{user_name}} {{ customer_name }} {{user_name}} {{\tquote_number\n}}"
    assert variables_in(content) == ["user_name", "customer_name", "quote_number"]


def test_text_that_only_looks_like_a_variable_is_not_one() -> None:
    assert variables_in("{ customer_name } {{customer name}} {{1abc}} {{}}") == []


def test_unknown_variables_are_still_listed_so_the_editor_can_flag_them() -> None:
    assert variables_in("Hi {{nickname}}") == ["nickname"]


def test_render_fills_the_guides_example() -> None:
    context = {"customer_name": "ACME GmbH", "quote_number": "Q-1042", "user_name": "Alice"}
    assert render(QUOTE, context) == "Hello ACME GmbH,\nYour quote Q-1042 is ready.\nAlice"


def test_missing_values_stay_visible_for_the_agent_to_fill() -> None:
    assert render(QUOTE, {"customer_name": "ACME", "quote_number": ""}) == (
        "Hello ACME,\nYour quote {{ quote_number }} is ready.\n{{user_name}}"
    )


def test_unknown_variables_are_left_as_written_even_if_the_context_has_them() -> None:
    assert render("Hi {{nickname}}", {"nickname": "Bobby"}) == "Hi {{nickname}}"


@pytest.mark.parametrize(
    "content",
    [
        "{customer_name.__class__}",
        "{0.__globals__}",
        "{{ customer_name.__class__ }}",
        "{{ __import__('os').system('id') }}",
        "%(customer_name)s",
        "${customer_name}",
    ],
)
def test_no_code_or_format_string_tricks_are_evaluated(content: str) -> None:
    assert render(content, {"customer_name": "ACME"}) == content


def test_a_value_that_looks_like_a_variable_is_not_expanded_again() -> None:
    context = {"customer_name": "{{user_name}}", "user_name": "Alice"}
    assert render("{{customer_name}} / {{user_name}}", context) == "{{user_name}} / Alice"


def test_values_are_escaped_for_rich_text_templates() -> None:
    context = {"customer_name": "Smith & Sons <b>"}
    assert render("<p>Hi {{customer_name}}</p>", context, escape=True) == (
        "<p>Hi Smith &amp; Sons &lt;b&gt;</p>"
    )
    assert render("Hi {{customer_name}}", context) == "Hi Smith & Sons <b>"


def tpl(
    tid: str,
    name: str,
    labels: list[str] | None = None,
    *,
    account_id: str = "acc_mail",
    type: TemplateType = TemplateType.REPLY,
) -> Template:
    return Template(
        id=tid, account_id=account_id, name=name, content="...", labels=labels or [], type=type
    )


TEMPLATES = [
    tpl("t1", "Quote ready"),
    tpl("t2", "Price list", ["Quotes"]),
    tpl("t3", "Follow up on quote"),
    tpl("t4", "Holiday notice", ["Seasonal"]),
    tpl("t5", "Welcome", account_id="acc_wa", type=TemplateType.START),
    tpl("t6", "Quick thanks", type=TemplateType.WINDOW),
]


def names(templates: list[Template]) -> list[str]:
    return [t.name for t in templates]


def test_slash_qu_finds_templates_by_name_and_by_label() -> None:
    assert names(search(TEMPLATES, "qu")) == [
        "Price list",  # label "Quotes"
        "Quick thanks",
        "Quote ready",
        "Follow up on quote",  # substring only: after every prefix match
    ]


def test_search_ignores_case_and_the_leading_slash() -> None:
    assert names(search(TEMPLATES, "/QUOTE R")) == ["Quote ready"]


def test_substring_matches_inside_a_name_are_found() -> None:
    assert names(search(TEMPLATES, "notice")) == ["Holiday notice"]
    assert names(search(TEMPLATES, "sonal")) == ["Holiday notice"]


def test_empty_query_lists_all_templates_by_name() -> None:
    assert names(search(TEMPLATES, "")) == sorted(names(TEMPLATES), key=str.casefold)


def test_no_match_gives_nothing() -> None:
    assert search(TEMPLATES, "invoice") == []


def test_search_only_offers_the_conversations_account() -> None:
    assert names(search(TEMPLATES, "", account_id="acc_wa")) == ["Welcome"]


def test_search_by_template_type() -> None:
    found = search(TEMPLATES, "", types={TemplateType.START, TemplateType.WINDOW})
    assert names(found) == ["Quick thanks", "Welcome"]


def test_search_returns_at_most_limit_results_best_first() -> None:
    assert names(search(TEMPLATES, "qu", limit=2)) == ["Price list", "Quick thanks"]
    assert search(TEMPLATES, "qu", limit=0) == []
    with pytest.raises(Invalid):
        search(TEMPLATES, "qu", limit=-1)
