"""English wording of rule summaries (indexes/rules/summary.py): relative clauses after "Customers"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from indexes.rules.model import (
    AllTime,
    Between,
    Duration,
    EventCondition,
    FirstLast,
    Last,
    Since,
    Value,
    Window,
)
from indexes.rules.summary import NUMBER_NEGATION, CountForm, Wording, is_set_op, joined, number_text

PROPERTY_LABELS = {
    "email": "e-mail address", "phone": "phone number", "account_status": "account status",
    "account_state": "account state", "marketing_consent": "e-mail marketing consent",
    "sms_consent": "SMS consent", "consent_updated_at": "consent update time", "tags": "tags",
    "customer_groups": "customer groups", "total_order_value": "total order value",
    "b2b_status": "B2B status", "language": "language", "country": "country", "city": "city",
    "account_activated_at": "account activation time", "password_updated_at": "password change time",
    "birth_date": "birth date", "created_at": "sign-up time", "order_count": "order count",
    "lifetime_value": "lifetime value", "first_order_at": "first order time",
    "last_order_at": "last order time", "last_seen_at": "last activity time",
}
ATTRIBUTE_LABELS = {
    "product_id": "product", "category": "category", "brand": "brand", "price": "price",
    "device": "device", "quantity": "quantity", "rating": "rating", "order_id": "order id",
    "amount": "amount", "currency": "currency", "product_ids": "products", "item_count": "item count",
    "coupon": "coupon", "campaign_id": "campaign", "url": "URL", "form_id": "form", "channel": "channel",
    "source": "source", "query": "search query", "step": "checkout step",
}


class _Event:
    """How an event type reads: 'who {past} {a noun}{tail}', 'who {negative} any {nouns}{tail}'; as
    the subject of a sum or a first/last: '{noun} {done}' ("total amount of orders refunded")."""

    def __init__(self, past: str, negative: str, noun: str, nouns: str, tail: str = "", done: str = "") -> None:
        self.past, self.negative, self.noun, self.nouns, self.tail = past, negative, noun, nouns, tail
        self.subject = f"{noun} {done}" if done else noun
        self.subjects = f"{nouns} {done}" if done else nouns


EVENTS = {
    "product_viewed": _Event("viewed", "did not view", "product", "products", done="viewed"),
    "product_added_to_cart": _Event("added", "did not add", "product", "products", " to their cart",
                                    "added to their cart"),
    "product_removed_from_cart": _Event("removed", "did not remove", "product", "products", " from their cart",
                                        "removed from their cart"),
    "product_added_to_wishlist": _Event("added", "did not add", "product", "products", " to their wishlist",
                                        "added to their wishlist"),
    "product_reviewed": _Event("reviewed", "did not review", "product", "products", done="reviewed"),
    "order_created": _Event("placed", "did not place", "order", "orders"),
    "order_delivered": _Event("had", "did not have", "order delivered", "orders delivered"),
    "order_refunded": _Event("had", "did not have", "order refunded", "orders refunded"),
    "order_cancelled": _Event("cancelled", "did not cancel", "order", "orders", done="cancelled"),
    "email_sent": _Event("were sent", "were not sent", "e-mail", "e-mails", done="sent"),
    "email_opened": _Event("opened", "did not open", "e-mail", "e-mails", done="opened"),
    "email_clicked": _Event("clicked", "did not click", "e-mail link", "e-mail links", done="clicked"),
    "sms_clicked": _Event("clicked", "did not click", "SMS link", "SMS links", done="clicked"),
    "popup_form_filled": _Event("filled in", "did not fill in", "pop-up form", "pop-up forms", done="filled in"),
    "subscribed": _Event("made", "did not make", "subscription", "subscriptions"),
    "session_started": _Event("started", "did not start", "session", "sessions"),
    "page_viewed": _Event("viewed", "did not view", "page", "pages", done="viewed"),
    "category_viewed": _Event("viewed", "did not view", "category page", "category pages", done="viewed"),
    "brand_viewed": _Event("viewed", "did not view", "brand page", "brand pages", done="viewed"),
    "search_performed": _Event("performed", "did not perform", "search", "searches"),
    "checkout_step_viewed": _Event("reached", "did not reach", "checkout step", "checkout steps", done="reached"),
}
PLURAL_SETS = frozenset({"tags", "customer_groups"})


def _event(name: str) -> _Event:
    return EVENTS.get(name) or _Event("had", "did not have", f'"{name}" event', f'"{name}" events')


def _label(name: str) -> str:
    return PROPERTY_LABELS.get(name) or name.replace("_", " ")


def _attr(name: str) -> str:
    return ATTRIBUTE_LABELS.get(name) or name.replace("_", " ")


def _article(noun: str) -> str:
    # "an SMS link", "an e-mail", 'an "app_opened" event': by the sound, here the first letter.
    word = noun.lstrip('"')
    return "an" if word[:1].lower() in "aeiou" or word.startswith("SMS") else "a"


def quoted(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (Decimal, int)):
        return number_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _list(values: tuple, word: str) -> str:
    return joined([quoted(v) for v in values], word)


def _span(duration: Duration) -> str:
    unit = duration.unit[:-1] if duration.amount == 1 else duration.unit
    return f"{duration.amount} {unit}"


def _time(op: str, value: Value, verb: str) -> str:
    """'is before 2026-01-01', 'was within the last 30 days', ..."""
    if op == "before":
        return f"{verb} before {quoted(value)}"
    if op == "after":
        return f"{verb} after {quoted(value)}"
    if op == "on":
        return f"{verb} on {quoted(value)}"
    if op == "between":
        assert isinstance(value, tuple)
        return f"{verb} between {quoted(value[0])} and {quoted(value[1])}"
    assert isinstance(value, Duration)
    if op == "within_last":
        if value.amount == 1:
            return f"{verb} {'today' if value.unit == 'days' else 'in the current hour'}"
        return f"{verb} within the last {_span(value)}"
    assert op == "more_than_ago", op
    return f"{verb} more than {_span(value)} ago"


def _compare(op: str, value: Value, verb: str = "is") -> str:
    """A present value against op/value: 'is "TR"', 'is at least 500', 'ends with "edu.com.tr"'."""
    plural = verb == "are"
    if op == "eq":
        return f"{verb} {quoted(value)}"
    if op == "neq":
        return f"{verb} not {quoted(value)}"
    if op == "in":
        return f"{verb} {_list(value, 'or')}" if len(value) == 1 else f"{verb} one of {_list(value, 'or')}"  # type: ignore[arg-type]
    if op == "not_in":
        if len(value) == 1:  # type: ignore[arg-type]
            return f"{verb} not {quoted(value[0])}"  # type: ignore[index]
        return f"{verb} none of {_list(value, 'or')}"  # type: ignore[arg-type]
    if op == "contains":
        return f"{'contain' if plural else 'contains'} {quoted(value)}"
    if op == "starts_with":
        return f"{'start' if plural else 'starts'} with {quoted(value)}"
    if op == "ends_with":
        return f"{'end' if plural else 'ends'} with {quoted(value)}"
    if op in ("gt", "gte", "lt", "lte"):
        words = {"gt": "more than", "gte": "at least", "lt": "less than", "lte": "at most"}[op]
        return f"{verb} {words} {quoted(value)}"
    if op == "between":
        assert isinstance(value, tuple)
        return f"{verb} between {quoted(value[0])} and {quoted(value[1])}"
    if op == "not_between":
        assert isinstance(value, tuple)
        return f"{verb} not between {quoted(value[0])} and {quoted(value[1])}"
    return _time(op, value, verb)


def _negated_compare(op: str, value: Value, verb: str) -> str:
    """True exactly when a present value does not satisfy op/value."""
    if op in NUMBER_NEGATION:
        return _compare(NUMBER_NEGATION[op], value, verb)
    flipped = {"in": "not_in", "not_in": "in", "between": "not_between"}
    if op in flipped:
        return _compare(flipped[op], value, verb)
    if op in ("contains", "starts_with", "ends_with"):
        base = {"contains": "contain", "starts_with": "start with", "ends_with": "end with"}[op]
        return f"{'do' if verb == 'are' else 'does'} not {base} {quoted(value)}"
    # time ops
    return _time(op, value, f"{verb} not")


class English(Wording):
    and_word = "and"
    or_word = "or"

    def property(self, name: str, op: str, value: Value) -> str:
        label = _label(name)
        if op == "exists":
            return f"who have {'' if name in PLURAL_SETS else _article(label) + ' '}{label}"
        if op == "not_exists":
            return f"who have no {label}"
        if is_set_op(op):
            return f"whose {label} {self._set(op, value)}"
        return f"whose {label} {_compare(op, value, 'are' if name in PLURAL_SETS else 'is')}"

    @staticmethod
    def _set(op: str, value: Value) -> str:
        if op == "has":
            return f"include {quoted(value)}"
        assert isinstance(value, tuple)
        if op == "has_any":
            return f"include {_list(value, 'or')}" if len(value) == 1 else f"include any of {_list(value, 'or')}"
        if op == "has_all":
            return f"include {_list(value, 'and')}"
        assert op == "has_none", op
        return f"do not include {_list(value, 'or')}"

    def property_negated(self, name: str, op: str, value: Value) -> str:
        label = _label(name)
        if op == "has_all":  # a missing set includes nothing: no "not set" case to add
            assert isinstance(value, tuple)
            return f"whose {label} do not include all of {_list(value, 'and')}"
        verb = "are" if name in PLURAL_SETS else "is"
        # One clause with no bare "or": it sits in lists joined by "and" / "or".
        return f"whose {label} {_negated_compare(op, value, verb)} (or who have no {label})"

    def event_count(self, event: EventCondition, form: CountForm) -> str:
        words = _event(event.event)
        where, window = self._where(event), _window(event.window)
        kind, low, high = form.kind, form.low, form.high
        if kind == "some":
            return f"who {words.past} {_article(words.noun)} {words.noun}{where}{words.tail}{window}"
        if kind == "none":
            return f"who {words.negative} any {words.nouns}{where}{words.tail}{window}"
        if kind == "anything":
            return f"who {words.past} any number of {words.nouns}{where}{words.tail}{window} (none included)"
        if kind == "impossible":
            return f"who {words.past} fewer than zero {words.nouns}{where}{words.tail}{window} (nobody)"
        if kind == "not_exactly":
            return f"who {words.negative} exactly {self._many(low, words)}{where}{words.tail}{window}"
        if kind == "between":
            return f"who {words.past} between {low} and {high} {words.nouns}{where}{words.tail}{window}"
        if kind == "outside":
            return f"who {words.past} fewer than {low} or more than {high} {words.nouns}{where}{words.tail}{window}"
        amount = {"at_least": "at least", "at_most": "at most", "exactly": "exactly", "more_than": "more than"}[kind]
        return f"who {words.past} {amount} {self._many(low, words)}{where}{words.tail}{window}"

    @staticmethod
    def _many(count: int, words: _Event) -> str:
        return f"{count} {words.noun if count == 1 else words.nouns}"

    def event_sum(self, event: EventCondition, attr: str, op: str, value: Value) -> str:
        words = _event(event.event)
        return (f"whose total {_attr(attr)} of {words.subjects}{self._where(event)}{_window(event.window)} "
                f"{_compare(op, value)}")

    def event_time(self, event: EventCondition, measure: FirstLast, negated: bool) -> str:
        words = _event(event.event)
        where, window = self._where(event), _window(event.window)
        if not negated:
            return f"whose {measure.which} {words.subject}{where}{window} {_time(measure.op, measure.value, 'was')}"
        return (f"whose {measure.which} {words.subject}{where}{window} {_time(measure.op, measure.value, 'was not')} "
                f"(or who have no such {words.noun})")

    @staticmethod
    def _where(event: EventCondition) -> str:
        if not event.where:
            return ""
        parts = []
        for condition in event.where:
            label, op, value = _attr(condition.attr), condition.op, condition.value
            if op == "exists":
                parts.append(f"{label} is set")
            elif op == "not_exists":
                parts.append(f"{label} is not set")
            elif is_set_op(op):
                parts.append(f"{label} {English._set(op, value)}")
            else:
                parts.append(f"{label} {_compare(op, value)}")
        return " where " + " and ".join(parts)

    def segment(self, segment_id: str, negated: bool) -> str:
        return f"who are {'not ' if negated else ''}in segment {quoted(segment_id)}"

    def sentence(self, body: str) -> str:
        return f"Customers {body}."


def _window(window: Window) -> str:
    if isinstance(window, AllTime):
        return ""
    if isinstance(window, Last):
        duration = window.duration
        if duration.amount == 1:
            return " today" if duration.unit == "days" else " in the current hour"
        return f" in the last {_span(duration)}"
    if isinstance(window, Since):
        return f" since {quoted(window.day)}"
    assert isinstance(window, Between)
    return f" between {quoted(window.first_day)} and {quoted(window.last_day)}"
