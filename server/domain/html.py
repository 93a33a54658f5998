"""HTML from the outside world (email bodies, rich-text replies): sanitized, or reduced to text.

`sanitize_html` keeps formatting, links and images and drops everything that can run code or
reach out on its own: scripts, styles, frames, forms, event handlers, `javascript:` URLs.
Links get `rel="noopener noreferrer"` and open in a new tab. Images keep only http(s), `cid:`
(inline email parts) and `data:image/...` raster sources.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col",
    "colgroup", "dd", "del", "div", "dl", "dt", "em", "figcaption", "figure", "font", "h1",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
    "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip

# Removed together with their content (everything else unknown is unwrapped, text kept).
_DROP_WITH_CONTENT = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "noscript",
    "template", "title", "head", "svg", "math", "select", "textarea", "button",
}  # fmt: skip

_TABLE_CELL = {"align", "valign", "colspan", "rowspan", "width", "height", "bgcolor"}
_ATTRIBUTES = {
    "*": {"style", "title", "dir", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "p": {"align"},
    "div": {"align"},
    "h1": {"align"},
    "h2": {"align"},
    "h3": {"align"},
    "font": {"color", "face", "size"},
    "table": {"align", "width", "border", "cellpadding", "cellspacing", "bgcolor"},
    "td": _TABLE_CELL,
    "th": _TABLE_CELL,
    "tr": {"align", "valign", "bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "blockquote": {"cite"},
    "q": {"cite"},
}

# Inline styles keep layout and emphasis only (no url(), no positioning, no behaviour).
_STYLE_PROPERTIES = {
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
    "text-align", "text-decoration", "vertical-align", "line-height", "white-space",
    "margin", "margin-left", "margin-right", "margin-top", "margin-bottom",
    "padding", "padding-left", "padding-right", "padding-top", "padding-bottom",
    "border", "border-collapse", "width", "height", "max-width",
}  # fmt: skip

_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}
_LINK_URL = re.compile(r"^(?:https?:|mailto:|tel:|#)", re.IGNORECASE)
_IMAGE_URL = re.compile(
    r"^(?:https?:|cid:|data:image/(?:png|gif|jpe?g|webp|bmp)[;,])", re.IGNORECASE
)


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    url = value.strip()
    if attribute == "href":
        return value if _LINK_URL.match(url) else None
    if attribute == "src" or attribute == "cite":
        pattern = _IMAGE_URL if attribute == "src" else _LINK_URL
        return value if pattern.match(url) else None
    return value


def sanitize_html(html: str) -> str:
    """Safe-to-display HTML for a message body."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        link_rel="noopener noreferrer",
        url_schemes=_URL_SCHEMES,
        filter_style_properties=_STYLE_PROPERTIES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


_BLOCK = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
}  # fmt: skip
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol"}
_CELL = {"td", "th"}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "svg", "math"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._pending = 0  # line breaks owed before the next text
        self._skip_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
            return
        if tag == "pre":
            self._pre_depth += 1
        self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:  # <br/>, <hr/>, a self-closed <div/>
            self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag in _CELL:
            self.parts.append(" ")
        elif tag != "br":
            self._break(tag)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        # Inside <pre>, spaces are protected from the folding in html_to_text.
        text = data.replace(" ", "\x00") if self._pre_depth else re.sub(r"\s+", " ", data)
        if not text.strip():
            if self._pending == 0:
                self.parts.append(text)
            return
        if self._pending and self.parts:
            self.parts.append("\n" * min(self._pending, 2))
        self._pending = 0
        self.parts.append(text)

    def _break(self, tag: str) -> None:
        if tag == "br":
            self._pending += 1
        elif tag in _PARAGRAPH:
            self._pending = max(self._pending, 2)
        elif tag in _BLOCK:
            self._pending = max(self._pending, 1)


def html_to_text(html: str) -> str:
    """The readable text of `html`, for previews and search.

    Block elements start a new line, paragraphs (and headings, lists, tables, quotes) are
    separated by a blank line, table cells by a space; scripts, styles and the document head
    are dropped; entities are decoded; runs of spaces fold to one except inside `<pre>`.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [
        re.sub(r"[ \t]+", " ", raw).strip().replace("\x00", " ")
        for raw in "".join(parser.parts).split("\n")
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
