"""Message templates: `{{ variable }}` placeholders and the composer's `/` picker.

Rendering is plain text substitution with one regular expression: no expression evaluation,
no attribute access, no `str.format`, and substituted values are never scanned again.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping

from server.domain.errors import Invalid
from server.domain.models import Template, TemplateType

VARIABLES = ("customer_name", "contact_name", "quote_number", "user_name", "company_name")

_KNOWN = frozenset(VARIABLES)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def variables_in(content: str) -> list[str]:
    """Variable names used in `content`, each once, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(content):
        seen.setdefault(match.group(1), None)
    return list(seen)


def render(content: str, context: Mapping[str, str], *, escape: bool = False) -> str:
    """Fill the known variables that `context` provides with a non-empty value.

    Unknown variables, and known ones with no (or an empty) value, stay as written, e.g.
    `{{quote_number}}`, so the agent sees what is left to fill in. With `escape=True` the
    values are HTML-escaped, for rich-text (email) templates.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = context.get(name) if name in _KNOWN else None
        if not value:
            return match.group(0)
        return html.escape(value) if escape else value

    return _PLACEHOLDER.sub(fill, content)


def search(
    templates: Iterable[Template],
    query: str,
    *,
    account_id: str | None = None,
    types: set[TemplateType] | None = None,
    limit: int = 20,
) -> list[Template]:
    """Templates whose name or a label contains `query`, case-insensitively.

    Prefix matches (of the name or of any label) come before matches further inside, then
    by name. A leading `/` is ignored, and an empty query lists every template by name.
    """
    if limit < 0:
        raise Invalid("limit must not be negative")
    needle = query.strip().removeprefix("/").strip().casefold()
    ranked: list[tuple[int, str, str, Template]] = []
    for template in templates:
        if account_id is not None and template.account_id != account_id:
            continue
        if types is not None and template.type not in types:
            continue
        rank = _rank(template, needle)
        if rank is not None:
            ranked.append((rank, template.name.casefold(), template.id, template))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked[:limit]]


def _rank(template: Template, needle: str) -> int | None:
    haystacks = [template.name.casefold(), *(label.casefold() for label in template.labels)]
    if any(text.startswith(needle) for text in haystacks):
        return 0
    if any(needle in text for text in haystacks):
        return 1
    return None
