"""The assistant's analysis of an inbound customer message: pure code, no I/O.

`Analyzer` is the narrow protocol the assistant service (server/assistant.py) calls. The one
shipped here, `RuleBasedAnalyzer`, is deterministic and rule-based: word lists (English plus
common Spanish and Portuguese words, accents ignored), simple negation ("not happy"),
exclamation and capital-letter signals, regular expressions for order / quote / invoice
references, and tag suggestions drawn only from the workspace's existing tags. It is not a
language model and does not pretend to be one; a model-backed analyzer plugs in later by
implementing the same protocol and returning the same `Analysis`.

The `Analysis` travels as JSON on the assistant's private note (`Message.data`), so the web
client can show badges and quick-action buttons; `to_dict` / `from_dict` define that shape.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.domain.errors import Invalid

SCHEMA_VERSION = 1
RULES_ANALYZER = "rules-v1"

SENTIMENTS = ("positive", "neutral", "frustrated", "urgent")
REFERENCE_KINDS = ("order", "quote", "invoice")
MAX_TEXT = 8000  # characters analyzed; a longer message is judged by its beginning
MAX_TAG_SUGGESTIONS = 3
MAX_REFERENCES = 10


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class TagInfo:
    """An existing tag the analyzer may suggest (deleted tags are never passed in)."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class AnalysisContext:
    """What the analyzer may know besides the text: the workspace's tags and the
    conversation's current state (so it does not suggest what is already done)."""

    tags: tuple[TagInfo, ...] = ()
    applied_tag_ids: frozenset[str] = frozenset()
    assigned: bool = False  # to a user (a team alone still leaves it to be picked up)
    customer_linked: bool = False
    status: str = "open"


@dataclass(frozen=True, slots=True)
class Reference:
    kind: str  # "order" | "quote" | "invoice"
    value: str  # normalized identifier, e.g. "4411", "PO-778", "INV-0042"
    text: str  # as written in the message, e.g. "order #4411"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "text": self.text}


@dataclass(frozen=True, slots=True)
class TagSuggestion:
    id: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True, slots=True)
class Action:
    """A recommended quick action; `type` names an existing agent command."""

    type: str  # "assign_to_me" | "set_pending" | "link_customer" | "add_tag"
    label: str
    tag_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "label": self.label}
        if self.tag_id is not None:
            data["tag_id"] = self.tag_id
        return data


@dataclass(frozen=True, slots=True)
class Analysis:
    sentiment: str = "neutral"
    urgent: bool = False
    references: tuple[Reference, ...] = ()
    suggested_tags: tuple[TagSuggestion, ...] = ()
    actions: tuple[Action, ...] = ()
    # Why: the words and signals that decided sentiment and urgency, for the agent to judge.
    signals: tuple[str, ...] = ()
    analyzer: str = RULES_ANALYZER

    @property
    def has_findings(self) -> bool:
        """Anything worth a note: a plain neutral message gets none (it would be noise)."""
        return bool(
            self.sentiment != "neutral" or self.urgent or self.references or self.suggested_tags
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "analyzer": self.analyzer,
            "sentiment": self.sentiment,
            "urgent": self.urgent,
            "references": [r.to_dict() for r in self.references],
            "suggested_tags": [t.to_dict() for t in self.suggested_tags],
            "actions": [a.to_dict() for a in self.actions],
            "signals": list(self.signals),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        return cls(
            sentiment=str(data.get("sentiment", "neutral")),
            urgent=bool(data.get("urgent", False)),
            references=tuple(
                Reference(str(r["kind"]), str(r["value"]), str(r.get("text", "")))
                for r in data.get("references", [])
            ),
            suggested_tags=tuple(
                TagSuggestion(str(t["id"]), str(t["name"])) for t in data.get("suggested_tags", [])
            ),
            actions=tuple(
                Action(str(a["type"]), str(a["label"]), a.get("tag_id"))
                for a in data.get("actions", [])
            ),
            signals=tuple(str(s) for s in data.get("signals", [])),
            analyzer=str(data.get("analyzer", RULES_ANALYZER)),
        )


class Analyzer(Protocol):
    """Turns one inbound message into an `Analysis`. Async so that a model-backed analyzer
    (a network call) fits the same place; it must not raise for ordinary text."""

    name: str

    async def analyze(self, text: str, context: AnalysisContext) -> Analysis: ...


# --------------------------------------------------------------------------- text helpers


def fold(text: str) -> str:
    """Casefolded, accents removed, typographic apostrophes made plain."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.replace("\u2019", "'").replace("\u2018", "'")


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _stem(word: str) -> str:
    """Crude singular: enough to match "orders" with "Order" or "invoices" with "invoice"."""
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _phrases(entries: dict[str, int]) -> list[tuple[tuple[str, ...], int]]:
    """Word-list entries as folded token tuples, longest first so phrases win over words."""
    out = [(tuple(words(k)), v) for k, v in entries.items()]
    return sorted(out, key=lambda item: -len(item[0]))


# --------------------------------------------------------------------------- word lists
# Weights: 2 is a strong word, 1 a weaker hint. Keys are written naturally and folded on load,
# so "pésimo" and "pessimo" are one entry.

_NEGATIVE = _phrases(
    {
        # English
        "angry": 2,
        "furious": 2,
        "frustrated": 2,
        "frustrating": 2,
        "annoyed": 2,
        "upset": 2,
        "unacceptable": 2,
        "ridiculous": 2,
        "terrible": 2,
        "awful": 2,
        "horrible": 2,
        "worst": 2,
        "disappointed": 2,
        "disappointing": 2,
        "useless": 2,
        "disgrace": 2,
        "scam": 2,
        "fed up": 2,
        "sick of": 2,
        "still waiting": 2,
        "never arrived": 2,
        "complaint": 2,
        "hate": 2,
        "incompetent": 2,
        "rubbish": 2,
        "bad": 1,
        "poor": 1,
        "wrong": 1,
        "broken": 1,
        "damaged": 1,
        "late": 1,
        "delayed": 1,
        "problem": 1,
        "issue": 1,
        "refund": 1,
        "waste": 1,
        "unhappy": 2,
        # Spanish
        "enojado": 2,
        "enfadado": 2,
        "molesto": 2,
        "pésimo": 2,
        "inaceptable": 2,
        "decepcionado": 2,
        "queja": 2,
        "harto": 2,
        "todavía espero": 2,
        "reembolso": 1,
        "roto": 1,
        "dañado": 1,
        "retraso": 1,
        "problema": 1,
        # Portuguese
        "irritado": 2,
        "chateado": 2,
        "péssimo": 2,
        "horrível": 2,
        "inaceitável": 2,
        "decepcionada": 2,
        "reclamação": 2,
        "atrasado": 1,
        "atraso": 1,
        "quebrado": 1,
        "danificado": 1,
    }
)

_POSITIVE = _phrases(
    {
        "thanks": 1,
        "thank you": 1,
        "great": 1,
        "excellent": 2,
        "perfect": 2,
        "awesome": 2,
        "amazing": 2,
        "wonderful": 2,
        "happy": 2,
        "pleased": 2,
        "love": 2,
        "appreciate": 1,
        "good": 1,
        "worked": 1,
        # Spanish
        "gracias": 1,
        "excelente": 2,
        "perfecto": 2,
        "genial": 2,
        "contento": 2,
        "feliz": 2,
        # Portuguese
        "obrigado": 1,
        "obrigada": 1,
        "ótimo": 2,
        "perfeito": 2,
        "maravilhoso": 2,
        "satisfeito": 2,
    }
)

_URGENT = _phrases(
    {
        "urgent": 2,
        "urgently": 2,
        "asap": 2,
        "as soon as possible": 2,
        "immediately": 2,
        "emergency": 2,
        "right now": 2,
        "right away": 2,
        "critical": 2,
        "straight away": 2,
        "today": 1,
        "tonight": 1,
        "deadline": 1,
        "quickly": 1,
        "hurry": 1,
        # Spanish
        "urgente": 2,
        "urgencia": 2,
        "inmediatamente": 2,
        "lo antes posible": 2,
        "cuanto antes": 2,
        "hoy": 1,
        # Portuguese
        "urgência": 2,
        "imediatamente": 2,
        "o mais rápido possível": 2,
        "agora mesmo": 2,
        "hoje": 1,
    }
)

# Set phrases that look like sentiment but are not: consumed first, counted nowhere.
_NEUTRAL = _phrases(
    {
        "no thanks": 0,
        "no thank you": 0,
        "good morning": 0,
        "good afternoon": 0,
        "good evening": 0,
        "no gracias": 0,
        "buenos dias": 0,
        "buenas tardes": 0,
        "nao obrigado": 0,
        "nao obrigada": 0,
        "bom dia": 0,
        "boa tarde": 0,
    }
)

# A negation within the two words before a listed word or phrase turns it around.
_NEGATIONS = frozenset(
    words(
        "not no never don't dont doesn't doesnt didn't didnt isn't isnt wasn't wasnt aren't arent"
        " won't wont can't cant hardly nada nunca nao nem ni tampoco"
    )
)

_STOPWORDS = frozenset(
    words(
        "the and for with from that this about into your our their have has are was were"
        " will would can could should a an of to in on at by is it be as or any all some"
        " para por con los las una uno del que com uma dos das"
    )
)


@dataclass(slots=True)
class _Hits:
    score: int = 0
    found: list[str] = field(default_factory=list)


def _scan(
    tokens: list[str], lists: dict[str, list[tuple[tuple[str, ...], int]]]
) -> dict[str, _Hits]:
    """Count each list's words and phrases in the tokens, honoring a preceding negation.
    A negated negative counts as a mild positive ("no problem", "not bad"); a negated positive
    counts as negative ("not happy"); a negated urgency word does not count ("not urgent")."""
    hits = {name: _Hits() for name in lists}
    used = [False] * len(tokens)
    entries = sorted(
        ((name, phrase, weight) for name, items in lists.items() for phrase, weight in items),
        key=lambda e: -len(e[1]),
    )
    for name, phrase, weight in entries:
        size = len(phrase)
        for i in range(len(tokens) - size + 1):
            if any(used[i : i + size]) or tuple(tokens[i : i + size]) != phrase:
                continue
            for j in range(i, i + size):
                used[j] = True
            text = " ".join(phrase)
            negation = _negation_before(tokens, i)
            if negation is None:
                hits[name].score += weight
                hits[name].found.append(text)
            elif name == "negative":
                hits["positive"].score += 1
                hits["positive"].found.append(f"{negation} {text}")
            elif name == "positive":
                hits["negative"].score += max(weight, 2)
                hits["negative"].found.append(f"{negation} {text}")
    return hits


def _negation_before(tokens: list[str], index: int) -> str | None:
    for token in tokens[max(0, index - 2) : index]:
        if token in _NEGATIONS:
            return token
    return None


def affirmed(tokens: list[str]) -> list[str]:
    """The tokens not under a negation: "not urgent" does not name the Urgent tag."""
    return [t for i, t in enumerate(tokens) if _negation_before(tokens, i) is None]


_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")


def _intensity(text: str) -> list[str]:
    """Shouting: repeated exclamation marks, or several words in capitals."""
    signals = []
    if re.search(r"!\s*!", text) or text.count("!") >= 3:
        signals.append("exclamation marks")
    caps = [w for w in _CAPS_WORD.findall(text) if w not in {"ASAP", "INV", "USD", "EUR", "PDF"}]
    letters = [ch for ch in text if ch.isalpha()]
    upper_share = sum(ch.isupper() for ch in letters) / len(letters) if letters else 0.0
    if len(caps) >= 2 or (len(letters) >= 12 and upper_share > 0.6):
        signals.append("capital letters")
    return signals


# --------------------------------------------------------------------------- references

_ORDER_WORDS = r"purchase\s+order|order|pedido|encomenda"
_QUOTE_WORDS = r"quotation|quote|cotizacion|cotacao|presupuesto|orcamento"
_INVOICE_WORDS = r"invoice|factura|fatura"
_KIND_OF_WORD = (
    [(w, "order") for w in ("purchase", "order", "pedido", "encomenda")]
    + [(w, "quote") for w in ("quotation", "quote", "cotizacion", "cotacao", "presupuesto")]
    + [("orcamento", "quote")]
    + [(w, "invoice") for w in ("invoice", "factura", "fatura")]
)
# A keyword, then a marker ("#", "no.", "nº", "number", ":"), then an id with a digit. A bare
# number after the keyword is not taken: "order 100 units" is a quantity, not a reference.
_MARKED = re.compile(
    rf"\b(?P<word>{_ORDER_WORDS}|{_QUOTE_WORDS}|{_INVOICE_WORDS})s?"
    r"\s*(?:#|no\.?(?=\s*#?\s*\d)|n\u00b0|nr\.?|num(?:ber|ero)?\.?|id\b|:)\s*#?\s*"
    r"(?P<id>[a-z0-9][a-z0-9/-]*\d[a-z0-9/-]*|\d[a-z0-9/-]*)",
    re.IGNORECASE,
)
# A keyword directly followed by a code that starts with a letter and has a digit:
# "order A1234", "quote Q-2024-17" (but not "order 3pcs").
_CODED = re.compile(
    rf"\b(?P<word>{_ORDER_WORDS}|{_QUOTE_WORDS}|{_INVOICE_WORDS})\s+"
    r"(?P<id>[a-z][a-z/-]*\d[a-z0-9/-]*)",
    re.IGNORECASE,
)
# Standalone prefixed codes: PO-778, INV-0042, Q-2024-17, QT-5, SO-12, ORD-991.
_PREFIXED = re.compile(
    r"\b(?P<prefix>PO|INV|QUO|QT|Q|SO|ORD)(?P<sep>[-#]|\s?#)?(?P<num>\d[\d/-]*\d|\d)\b",
    re.IGNORECASE,
)
_PREFIX_KIND = {"PO": "order", "SO": "order", "ORD": "order", "INV": "invoice"}


def _kind_of(word: str) -> str:
    first = fold(word).split()[0]
    for candidate, kind in _KIND_OF_WORD:
        if first == candidate:
            return kind
    return "order"


def extract_references(text: str) -> list[Reference]:
    """Orders, quotes and invoices the message names, in order of appearance, each once."""
    plain = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    found: list[tuple[int, Reference]] = []
    for pattern in (_MARKED, _CODED):
        for m in pattern.finditer(plain):
            ident = m.group("id").rstrip("/-")
            found.append(
                (m.start(), Reference(_kind_of(m.group("word")), ident.upper(), m.group(0)))
            )
    for m in _PREFIXED.finditer(plain):
        prefix = m.group("prefix").upper()
        if prefix == "Q" and m.group("sep") is None:
            continue  # "Q2" is a quarter, not a quote
        if prefix in ("SO", "PO") and m.group("sep") is None and not m.group(0).isupper():
            continue  # "so 5" / "po 3" in running text
        kind = _PREFIX_KIND.get(prefix, "quote")
        value = f"{prefix}-{m.group('num')}"
        found.append((m.start(), Reference(kind, value, m.group(0))))
    out: list[Reference] = []
    seen: set[tuple[str, str]] = set()
    for _, ref in sorted(found, key=lambda item: item[0]):
        key = (ref.kind, _bare(ref.value))
        if key in seen:
            continue
        seen.add(key)
        out.append(ref)
    return out[:MAX_REFERENCES]


def _bare(value: str) -> str:
    """ "INV-0042" and "0042" name the same invoice."""
    digits = re.sub(r"^(PO|INV|QUO|QT|Q|SO|ORD)-", "", value)
    return digits


# --------------------------------------------------------------------------- tags


def suggest_tags(
    tokens: list[str], extra_words: set[str], context: AnalysisContext
) -> list[TagSuggestion]:
    """Existing tags whose name appears in the message (2 points) or whose description's
    words do (1 point each); 2 points suggest the tag. Never invents a tag."""
    stems = [_stem(t) for t in tokens]
    present = set(stems) | {_stem(w) for w in extra_words}
    text = " " + " ".join(stems) + " "
    scored: list[tuple[int, str, TagSuggestion]] = []
    for tag in context.tags:
        if tag.id in context.applied_tag_ids:
            continue
        name_tokens = [_stem(t) for t in words(tag.name)]
        if not name_tokens:
            continue
        score = 0
        if len(name_tokens) == 1:
            if name_tokens[0] in present:
                score += 2
        elif f" {' '.join(name_tokens)} " in text:
            score += 2
        keywords = {
            _stem(w)
            for w in words(tag.description)
            if len(w) >= 3 and w not in _STOPWORDS and not w.isdigit()
        } - set(name_tokens)
        score += len(keywords & present)
        if score >= 2:
            scored.append((score, tag.name.lower(), TagSuggestion(tag.id, tag.name)))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [s for _, _, s in scored[:MAX_TAG_SUGGESTIONS]]


# --------------------------------------------------------------------------- actions


def recommend_actions(
    *,
    urgent: bool,
    sentiment: str,
    references: list[Reference],
    tags: list[TagSuggestion],
    context: AnalysisContext,
) -> list[Action]:
    actions: list[Action] = []
    if (urgent or sentiment == "frustrated") and not context.assigned:
        actions.append(Action("assign_to_me", "Assign to me"))
    if urgent and context.status != "pending":
        actions.append(Action("set_pending", "Set pending"))
    if references and not context.customer_linked:
        actions.append(Action("link_customer", "Link customer"))
    actions.extend(Action("add_tag", f"Add tag {t.name}", tag_id=t.id) for t in tags)
    return actions


# --------------------------------------------------------------------------- the analyzer


def analyze_text(text: str, context: AnalysisContext) -> Analysis:
    """The rule-based analysis, synchronous (see `RuleBasedAnalyzer` for the protocol)."""
    text = text[:MAX_TEXT]
    tokens = words(text)
    hits = _scan(
        tokens,
        {"neutral": _NEUTRAL, "negative": _NEGATIVE, "positive": _POSITIVE, "urgent": _URGENT},
    )
    negative, positive, urgency = hits["negative"], hits["positive"], hits["urgent"]
    intensity = _intensity(text)
    frustrated = negative.score > 0 and negative.score > positive.score
    urgency_score = urgency.score
    if intensity and frustrated:
        urgency_score += 2  # an angry customer who shouts needs someone now
    elif intensity and urgency.score > 0:
        urgency_score += len(intensity)
    urgent = urgency_score >= 2
    if frustrated:
        sentiment = "frustrated"
    elif urgent:
        sentiment = "urgent"
    elif positive.score > negative.score:
        sentiment = "positive"
    else:
        sentiment = "neutral"

    signals: list[str] = []
    if negative.found:
        signals.append("negative: " + ", ".join(dict.fromkeys(negative.found)))
    if positive.found:
        signals.append("positive: " + ", ".join(dict.fromkeys(positive.found)))
    if urgency.found:
        signals.append("urgency: " + ", ".join(dict.fromkeys(urgency.found)))
    if intensity and (urgency.score > 0 or frustrated or positive.score > 0):
        signals.extend(intensity)

    references = extract_references(text)
    concepts = {ref.kind for ref in references}
    if urgent:
        concepts.add("urgent")
    tags = suggest_tags(affirmed(tokens), concepts, context)
    actions = recommend_actions(
        urgent=urgent, sentiment=sentiment, references=references, tags=tags, context=context
    )
    return Analysis(
        sentiment=sentiment,
        urgent=urgent,
        references=tuple(references),
        suggested_tags=tuple(tags),
        actions=tuple(actions),
        signals=tuple(signals),
    )


class RuleBasedAnalyzer:
    """The built-in analyzer: deterministic rules, no network, no model."""

    name = RULES_ANALYZER

    async def analyze(self, text: str, context: AnalysisContext) -> Analysis:
        return analyze_text(text, context)


# --------------------------------------------------------------------------- the note


def note_client_key(inbound_message_id: str) -> str:
    """The assistant note's idempotency key: one note per inbound message, ever."""
    return f"assistant:{inbound_message_id}"


def note_text(analysis: Analysis) -> str:
    """The note's plain text (what search and any client without the badges show)."""
    head = f"Sentiment: {analysis.sentiment}"
    if analysis.urgent:
        head += " · urgent"
    lines = [head]
    if analysis.references:
        lines.append("References: " + ", ".join(f"{r.kind} {r.value}" for r in analysis.references))
    if analysis.suggested_tags:
        lines.append("Suggested tags: " + ", ".join(t.name for t in analysis.suggested_tags))
    if analysis.actions:
        lines.append("Suggested actions: " + ", ".join(a.label for a in analysis.actions))
    return "\n".join(lines)


# --------------------------------------------------------------------------- settings


def assistant_enabled(settings: dict[str, Any]) -> bool:
    """An account's `settings["assistant"]["enabled"]`; on unless switched off."""
    value = settings.get("assistant")
    if isinstance(value, dict):
        return value.get("enabled", True) is not False
    return True


def validate_settings(value: Any) -> dict[str, Any]:
    """`{"enabled": bool}`: the per-account switch, validated on write."""
    if not isinstance(value, dict):
        raise Invalid('assistant must be an object like {"enabled": false}')
    unknown = set(value) - {"enabled"}
    if unknown:
        raise Invalid(f"assistant has unknown fields: {', '.join(sorted(unknown))}")
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise Invalid("assistant.enabled must be true or false")
    return {"enabled": enabled}
