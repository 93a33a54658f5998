"""WhatsApp templates: what Meta reviews, what a template message carries, review results.

Our templates use named variables (`{{customer_name}}`); WhatsApp's use positions (`{{1}}`).
A template is submitted with its variables numbered in order of first appearance and an
example value for each; sending fills the same positions with this conversation's values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from server.domain import templates
from server.domain.errors import Invalid
from server.domain.models import Template, TemplateApproval

CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_EXAMPLES = {
    "customer_name": "Alex Doe",
    "contact_name": "Alex",
    "quote_number": "Q-1042",
    "user_name": "Sam",
    "company_name": "Acme Parts",
}


def meta_name(name: str) -> str:
    """Meta's template name: lower case letters, digits and underscores."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return (slug or "template")[:512]


def clean_fields(data: Mapping[str, Any], template: Template, provider: str) -> None:
    """Apply and check the WhatsApp fields of a template write (`Invalid` when wrong)."""
    language = data.get("language", template.language or "en")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise Invalid("language must be a WhatsApp language code such as en or en_US")
    category = data.get("category", template.category or "UTILITY")
    if not isinstance(category, str) or category.upper() not in CATEGORIES:
        raise Invalid(f"category must be one of {', '.join(CATEGORIES)}")
    template.language, template.category = language, category.upper()
    if provider == "twilio":
        sid = data.get("content_sid", template.provider_template_id)
        if not isinstance(sid, str) or not _CONTENT_SID.match(sid):
            raise Invalid(
                "content_sid is required for a Twilio WhatsApp template: the ContentSid"
                " (HX + 32 hex characters) of the template approved in Twilio's Content"
                " Template Builder"
            )
        template.provider_template_id = sid


def review_body(template: Template) -> dict[str, Any]:
    """The `POST /{waba_id}/message_templates` body for this template."""
    names = templates.variables_in(template.content)
    positions = {name: i + 1 for i, name in enumerate(names)}
    text = _PLACEHOLDER.sub(lambda m: "{{" + str(positions[m.group(1)]) + "}}", template.content)
    component: dict[str, Any] = {"type": "BODY", "text": text}
    if names:
        component["example"] = {"body_text": [[_EXAMPLES.get(n, "example") for n in names]]}
    return {
        "name": meta_name(template.name),
        "language": template.language or "en",
        "category": template.category or "UTILITY",
        "components": [component],
    }


def message_data(
    template: Template, context: Mapping[str, str], overrides: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    """The text shown in the thread and the `Message.data` a template message is sent from.
    Each variable needs a value (from the conversation or `overrides`): WhatsApp refuses
    empty parameters."""
    values = {**{k: v for k, v in context.items() if v}, **overrides}
    names = templates.variables_in(template.content)
    missing = [name for name in names if not str(values.get(name, "")).strip()]
    if missing:
        raise Invalid(
            "Fill in the template's variables: " + ", ".join(missing),
            code="template_params_missing",
        )
    params = [str(values[name])[:1024] for name in names]
    text = _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template.content)
    data: dict[str, Any] = {
        "id": template.id,
        "name": meta_name(template.name),
        "language": template.language or "en",
        "params": params,
    }
    if template.provider_template_id.startswith("HX"):
        data["content_sid"] = template.provider_template_id
    return text, {"template": data}


def apply_review(template: Template, approval: TemplateApproval, reason: str) -> bool:
    """Record Meta's verdict; whether anything changed."""
    if template.approval == approval and template.approval_reason == reason:
        return False
    template.approval = approval
    template.approval_reason = reason if approval == TemplateApproval.REJECTED else ""
    return True
