"""Plain-language summaries of rules in English, Turkish and German (issue 7), from the rule tree alone.

    summarize(rule, "en") -> 'Customers whose e-mail marketing consent is "granted", who added a product
                             to their wishlist and who did not place any orders in the last 30 days.'

Deterministic: the same tree gives the same sentence, byte for byte (golden tests pin it). Correct
for negation and nesting, which is where readable summaries usually lie:

* `not` is pushed down to the conditions (De Morgan over groups), and each condition says its own
  negation exactly under RULES.md semantics. A count or a sum exists for every customer (0 when they
  have no such event), so its negation flips the comparison (`not count >= 3` = fewer than 3). A
  property condition is false for customers without the property, so its negation is "not set, or
  set and not ...". A `first` / `last` condition is false without a matching event, so its negation is
  "no such event, or the first/last one not ...". Set ops negate among themselves (`has_any` <->
  `has_none`), missing sets included.
* Groups nested inside another group are put in parentheses; groups of the same kind merge
  (`all(a, all(b, c))` reads as "a, b and c"), which changes no meaning.

The tree becomes `Phrase` leaves (a condition and whether it is negated) inside `Group`s; each
language (summary_en / summary_tr / summary_de) turns those into words. Property, event and attribute
names from CATALOG.md have translated labels; declared names are shown as they are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal

from indexes.rules.model import (
    All,
    AnyOf,
    Count,
    EventCondition,
    FirstLast,
    Node,
    Not,
    PropertyCondition,
    SegmentCondition,
    Sum,
    Value,
)

LANGUAGES = ("en", "tr", "de")


@dataclass(frozen=True)
class Phrase:
    """One condition of the rule, or its negation."""

    node: PropertyCondition | EventCondition | SegmentCondition
    negated: bool


@dataclass(frozen=True)
class Group:
    """`all` (every part holds) or `any` (at least one holds) of at least two parts."""

    kind: str  # "all" | "any"
    parts: tuple[Phrase | Group, ...]


Summary = Phrase | Group


class Wording(ABC):
    """One language: a clause for each kind of condition, and the words that join clauses.

    `clause` handles what is the same in every language: which negations are exact ops of their own
    (a count's flipped comparison, a set op's opposite) and which need "not set, or ..." wording."""

    def clause(self, phrase: Phrase) -> str:
        node, negated = phrase.node, phrase.negated
        if isinstance(node, SegmentCondition):
            return self.segment(node.segment, negated)
        if isinstance(node, PropertyCondition):
            if negated and node.op in SET_NEGATION:
                return self.property(node.property, SET_NEGATION[node.op], node.value)
            if negated and node.op == "has":
                return self.property(node.property, "has_none", (node.value,))
            if negated:
                return self.property_negated(node.property, node.op, node.value)
            return self.property(node.property, node.op, node.value)
        measure = node.measure
        if isinstance(measure, Count):
            return self.event_count(node, count_form(measure, negated))
        if isinstance(measure, Sum):
            op = measure.op
            if negated:
                op = NUMBER_NEGATION.get(op, "not_between")
            return self.event_sum(node, measure.attr, op, measure.value)
        assert isinstance(measure, FirstLast)
        return self.event_time(node, measure, negated)

    @abstractmethod
    def property(self, name: str, op: str, value: Value) -> str:
        """Customers whose property `name` satisfies op/value (present values; exists/not_exists)."""

    @abstractmethod
    def property_negated(self, name: str, op: str, value: Value) -> str:
        """Customers without the property, or whose value does not satisfy op/value."""

    @abstractmethod
    def event_count(self, event: EventCondition, form: CountForm) -> str: ...

    @abstractmethod
    def event_sum(self, event: EventCondition, attr: str, op: str, value: Value) -> str:
        """op: a number op, or "not_between" (the negation of between)."""

    @abstractmethod
    def event_time(self, event: EventCondition, measure: FirstLast, negated: bool) -> str:
        """Negated: no matching event in the window, or the first/last one not satisfying the op."""

    @abstractmethod
    def segment(self, segment_id: str, negated: bool) -> str: ...

    and_word: str  # joins the clauses of an `all`
    or_word: str  # joins the clauses of an `any`

    def join(self, kind: str, clauses: list[str]) -> str:
        """kind "all": every clause holds; "any": at least one. "a, b and c"."""
        return joined(clauses, self.and_word if kind == "all" else self.or_word)

    def nested(self, text: str) -> str:
        """A group inside another group: parenthesised in every language."""
        return f"({text})"

    @abstractmethod
    def sentence(self, body: str) -> str: ...


def summarize(rule: Node, language: str = "en") -> str:
    """The rule as one sentence in `language` (one of LANGUAGES); ValueError for another language."""
    book = wording(language)
    return book.sentence(_render(normal_form(rule), book, top=True))


def wording(language: str) -> Wording:
    # Imported here: each language module imports this one for Phrase and the count forms.
    if language == "en":
        from indexes.rules.summary_en import English

        return English()
    if language == "tr":
        from indexes.rules.summary_tr import Turkish

        return Turkish()
    if language == "de":
        from indexes.rules.summary_de import German

        return German()
    raise ValueError(f"no summaries in {language!r}: choose one of {', '.join(LANGUAGES)}")


def normal_form(rule: Node, negated: bool = False) -> Summary:
    """The rule with every `not` pushed onto a condition and same-kind groups merged."""
    # Recursion depth is bounded by the rule's depth (MAX_DEPTH, checked when the rule was loaded).
    if isinstance(rule, Not):
        return normal_form(rule.node, not negated)
    if isinstance(rule, (All, AnyOf)):
        kind = "all" if isinstance(rule, All) else "any"
        if negated:  # De Morgan
            kind = "any" if kind == "all" else "all"
        parts: list[Summary] = []
        for child in rule.nodes:
            part = normal_form(child, negated)
            if isinstance(part, Group) and part.kind == kind:
                parts.extend(part.parts)
            else:
                parts.append(part)
        return parts[0] if len(parts) == 1 else Group(kind, tuple(parts))
    assert isinstance(rule, (PropertyCondition, EventCondition, SegmentCondition)), type(rule)
    return Phrase(rule, negated)


def _render(summary: Summary, book: Wording, top: bool) -> str:
    if isinstance(summary, Phrase):
        return book.clause(summary)
    text = book.join(summary.kind, [_render(part, book, top=False) for part in summary.parts])
    return text if top else book.nested(text)


# --- counts: every (op, value) as one of a few forms, so each language words a handful of cases ---
@dataclass(frozen=True)
class CountForm:
    """How many matching events: `kind` with bounds `low`/`high` (whole numbers >= 0).

    kinds: some (>= 1), none (0), at_least, more_than, at_most, fewer_than, exactly, not_exactly,
    between (low..high inclusive), outside (< low or > high), anything (always true), impossible.
    """

    kind: str
    low: int = 0
    high: int = 0


_COUNT_NEGATION = {
    "some": "none", "none": "some", "at_least": "fewer_than", "fewer_than": "at_least",
    "more_than": "at_most", "at_most": "more_than", "exactly": "not_exactly", "not_exactly": "exactly",
    "between": "outside", "outside": "between", "anything": "impossible", "impossible": "anything",
}


def count_form(measure: Count, negated: bool) -> CountForm:
    """The count comparison in its simplest exact wording, negated when asked (counts are >= 0)."""
    op, value = measure.op, measure.value
    if op == "between":
        assert isinstance(value, tuple)
        form = CountForm("between", int(value[0]), int(value[1]))
    else:
        assert isinstance(value, int)
        form = CountForm({"gte": "at_least", "gt": "more_than", "lte": "at_most", "lt": "fewer_than",
                          "eq": "exactly", "neq": "not_exactly"}[op], value, value)
    if negated:
        form = CountForm(_COUNT_NEGATION[form.kind], form.low, form.high)
    return _simplest(form)


def _simplest(form: CountForm) -> CountForm:
    kind, low, high = form.kind, form.low, form.high
    if kind == "more_than":
        kind, low = "at_least", low + 1
    elif kind == "fewer_than":
        if low <= 0:
            return CountForm("impossible")
        kind, low = "at_most", low - 1
    elif kind == "between":
        if low > high:
            return CountForm("impossible")
        if low == high:
            kind = "exactly"
        elif low <= 0:
            kind, low = "at_most", high
    elif kind == "outside":
        if low > high:
            return CountForm("anything")
        if low <= 0:
            kind, low = "at_least", high + 1
        elif low == high:
            kind = "not_exactly"
    if kind == "at_least":
        if low <= 0:
            return CountForm("anything")
        if low == 1:
            return CountForm("some")
    if kind == "at_most" and low <= 0:
        return CountForm("none")
    if kind == "exactly" and low == 0:
        return CountForm("none")
    if kind == "not_exactly" and low == 0:
        return CountForm("some")
    return CountForm(kind, low, high if kind in ("between", "outside") else low)


# --- comparisons shared by the languages ----------------------------------------------------------
# The comparison that is true exactly when `op` is false, for a value that is present.
NUMBER_NEGATION = {"eq": "neq", "neq": "eq", "gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
# Set ops whose negation is another set op, customers without the set included (RULES.md: a missing
# set matches only has_none and not_exists).
SET_NEGATION = {"has_any": "has_none", "has_none": "has_any", "exists": "not_exists", "not_exists": "exists"}


def number_text(value: Decimal | int) -> str:
    """A number as written in a rule: no exponent, no trailing zeros beyond what was given."""
    if isinstance(value, int):
        return str(value)
    text = format(value, "f")
    return text


def joined(items: list[str], word: str) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def is_set_op(op: str) -> bool:
    return op in ("has", "has_any", "has_all", "has_none")
