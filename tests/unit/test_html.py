"""Email HTML is shown safely, and reduced to text for previews and search."""

from __future__ import annotations

import pytest

from server.domain.html import html_to_text, sanitize_html


def test_formatting_survives() -> None:
    html = (
        "<p><b>Bold</b> <i>italic</i> <u>under</u></p>"
        "<ul><li>one</li></ul><ol><li>two</li></ol>"
        "<blockquote>quoted</blockquote>"
        "<table><tr><td>cell</td></tr></table>"
        "<h2>Title</h2><pre>code</pre><br>"
    )
    assert sanitize_html(html) == (
        "<p><b>Bold</b> <i>italic</i> <u>under</u></p>"
        "<ul><li>one</li></ul><ol><li>two</li></ol>"
        "<blockquote>quoted</blockquote>"
        "<table><tbody><tr><td>cell</td></tr></tbody></table>"
        "<h2>Title</h2><pre>code</pre><br>"
    )


def test_alignment_and_colours_from_the_rich_text_editor_survive() -> None:
    html = '<p style="text-align: center; color: #ff0000">Centred</p>'
    out = sanitize_html(html)
    assert "text-align:center" in out.replace(" ", "")
    assert "color:#ff0000" in out.replace(" ", "")


def test_dangerous_styles_are_dropped() -> None:
    out = sanitize_html(
        '<div style="position:fixed;top:0;background-image:url(https://t.example/p)">x</div>'
    )
    assert "position" not in out
    assert "url(" not in out


def test_links_open_safely_in_a_new_tab() -> None:
    out = sanitize_html('<a href="https://example.com/q?a=1&amp;b=2">quote</a>')
    assert 'href="https://example.com/q?a=1&amp;b=2"' in out
    assert 'rel="noopener noreferrer"' in out
    assert 'target="_blank"' in out


@pytest.mark.parametrize("href", ["mailto:a@example.com", "tel:+4930123456"])
def test_mail_and_phone_links_are_kept(href: str) -> None:
    assert f'href="{href}"' in sanitize_html(f'<a href="{href}">x</a>')


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "cid:part1",
        "/api/admin",
    ],
)
def test_links_that_could_run_code_or_reach_into_the_app_lose_their_href(href: str) -> None:
    out = sanitize_html(f'<a href="{href}">click</a>')
    assert "href" not in out
    assert "click" in out


def test_scripts_styles_and_frames_disappear_with_their_content() -> None:
    out = sanitize_html(
        "<p>Hi</p><script>alert('x')</script><style>p{display:none}</style>"
        "<iframe src='https://evil.example'>frame text</iframe>"
        "<object data='x.swf'>obj</object><embed src='x.swf'>"
    )
    assert out == "<p>Hi</p>"


def test_event_handlers_are_stripped() -> None:
    out = sanitize_html(
        '<img src="https://example.com/a.png" onerror="alert(1)">'
        '<p onclick="alert(2)" onmouseover="alert(3)">x</p>'
    )
    assert "alert" not in out
    assert "onerror" not in out
    assert "onclick" not in out
    assert "onmouseover" not in out
    assert 'src="https://example.com/a.png"' in out


def test_forms_cannot_be_used_to_phish() -> None:
    out = sanitize_html('<form action="https://evil.example"><input name="pw"></form>')
    assert "<form" not in out
    assert "<input" not in out


@pytest.mark.parametrize(
    "src",
    [
        "https://example.com/logo.png",
        "http://example.com/logo.png",
        "cid:logo@example.com",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/jpeg;base64,/9j/4AAQ",
    ],
)
def test_images_from_the_web_inline_parts_and_data_urls_are_shown(src: str) -> None:
    assert f'src="{src}"' in sanitize_html(f'<img src="{src}" alt="logo">')


@pytest.mark.parametrize(
    "src",
    [
        "javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "file:///etc/passwd",
        "/api/avatar",
    ],
)
def test_images_from_anywhere_else_lose_their_source(src: str) -> None:
    assert "src" not in sanitize_html(f'<img src="{src}" alt="x">')


def test_comments_are_removed() -> None:
    assert sanitize_html("a<!-- secret -->b") == "ab"


def test_plain_text_is_escaped_not_interpreted() -> None:
    assert sanitize_html("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"


# --- html_to_text -----------------------------------------------------------------------


def test_paragraphs_and_line_breaks_become_lines() -> None:
    html = "<p>Hello <b>Anna</b>,</p><p>your order<br>has shipped.</p><div>Regards</div>"
    assert html_to_text(html) == "Hello Anna,\n\nyour order\nhas shipped.\n\nRegards"


def test_list_items_are_one_per_line() -> None:
    assert html_to_text("<ul><li>bolts</li><li>nuts</li></ul>") == "bolts\nnuts"


def test_table_cells_do_not_run_together() -> None:
    html = "<table><tr><td>Part</td><td>Qty</td></tr><tr><td>A-1</td><td>4</td></tr></table>"
    assert html_to_text(html) == "Part Qty\nA-1 4"


def test_scripts_styles_and_the_head_are_not_text() -> None:
    html = (
        "<html><head><title>Newsletter</title><style>p{color:red}</style></head>"
        "<body><script>var x = 1;</script><p>Body</p></body></html>"
    )
    assert html_to_text(html) == "Body"


def test_entities_are_decoded_and_source_whitespace_folded() -> None:
    html = "<p>Fish &amp;&nbsp;Chips\n\n      &lt;today&gt;   &#8364;5</p>"
    assert html_to_text(html) == "Fish & Chips <today> €5"


def test_preformatted_text_keeps_its_spacing() -> None:
    assert html_to_text("<pre>a   b\n  c</pre>") == "a   b\n  c"


def test_many_empty_blocks_do_not_make_a_tall_gap() -> None:
    html = "<p>top</p><p></p><div><br></div><p>&nbsp;</p><p>bottom</p>"
    assert html_to_text(html) == "top\n\nbottom"


def test_plain_text_and_broken_html_still_give_text() -> None:
    assert html_to_text("just text") == "just text"
    assert html_to_text("<p>unclosed <b>bold") == "unclosed bold"
    assert html_to_text("") == ""
