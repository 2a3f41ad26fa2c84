"""German wording of rule summaries (indexes/rules/summary.py): relative clauses after "Kunden,".

Every condition is a relative clause with the verb at the end ("deren Land „TR“ ist", "die in den
letzten 30 Tagen keine Bestellung aufgegeben haben"); clauses are joined with commas and "und" /
"oder". Event nouns carry their gender for the accusative article (einen / eine / ein, keinen / ...).
"""

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
    "email": "E-Mail-Adresse", "phone": "Telefonnummer", "account_status": "Kontostatus",
    "account_state": "Kontozustand", "marketing_consent": "E-Mail-Marketing-Einwilligung",
    "sms_consent": "SMS-Einwilligung", "consent_updated_at": "letzte Einwilligungsänderung", "tags": "Tags",
    "customer_groups": "Kundengruppen", "total_order_value": "Gesamtbestellwert", "b2b_status": "B2B-Status",
    "language": "Sprache", "country": "Land", "city": "Stadt", "account_activated_at": "Kontoaktivierung",
    "password_updated_at": "letzte Passwortänderung", "birth_date": "Geburtsdatum",
    "created_at": "Registrierung", "order_count": "Bestellanzahl", "lifetime_value": "Kundenwert",
    "first_order_at": "erste Bestellung", "last_order_at": "letzte Bestellung", "last_seen_at": "letzte Aktivität",
}
ATTRIBUTE_LABELS = {  # with the article: they start a "wobei ..." clause
    "product_id": "das Produkt", "category": "die Kategorie", "brand": "die Marke", "price": "der Preis",
    "device": "das Gerät", "quantity": "die Menge", "rating": "die Bewertung", "order_id": "die Bestellnummer",
    "amount": "der Betrag", "currency": "die Währung", "product_ids": "die Produkte",
    "item_count": "die Artikelanzahl", "coupon": "der Gutschein", "campaign_id": "die Kampagne",
    "url": "die URL", "form_id": "das Formular", "channel": "der Kanal", "source": "die Quelle",
    "query": "der Suchbegriff", "step": "der Schritt",
}
SUM_LABELS = {"amount": "Gesamtbetrag", "price": "Gesamtpreis", "quantity": "Gesamtmenge",
              "item_count": "Gesamtartikelanzahl", "rating": "Bewertungssumme"}
_A = {"m": "einen", "f": "eine", "n": "ein"}
_NO = {"m": "keinen", "f": "keine", "n": "kein"}
_FIRST = {"m": "erster", "f": "erste", "n": "erstes"}
_LAST = {"m": "letzter", "f": "letzte", "n": "letztes"}


class _Event:
    """'die ... {eine} {noun} {done} haben'; as the subject of a sum or a first/last the participle
    becomes an adjective when the noun alone would not name the event ("der erstatteten
    Bestellungen", "deren letzte geöffnete E-Mail"); `adjective` is its stem ("" for none)."""

    def __init__(self, noun: str, nouns: str, gender: str, done: str, adjective: str = "") -> None:
        assert gender in _A
        self.noun, self.nouns, self.gender, self.done, self.adjective = noun, nouns, gender, done, adjective

    def subject(self, which: dict[str, str]) -> str:
        """'letzte geöffnete E-Mail': strong endings, as after the undeclined 'deren'."""
        if not self.adjective:
            return f"{which[self.gender]} {self.noun}"
        ending = {"m": "er", "f": "e", "n": "es"}[self.gender]
        return f"{which[self.gender]} {self.adjective}{ending} {self.noun}"

    def of_all(self) -> str:
        """'der erstatteten Bestellungen': genitive plural, weak ending."""
        return f"der {self.adjective}en {self.nouns}" if self.adjective else f"der {self.nouns}"


EVENTS = {
    "product_viewed": _Event("Produkt", "Produkte", "n", "angesehen", "angesehen"),
    "product_added_to_cart": _Event("Produkt", "Produkte", "n", "in den Warenkorb gelegt", "in den Warenkorb gelegt"),
    "product_removed_from_cart": _Event("Produkt", "Produkte", "n", "aus dem Warenkorb entfernt",
                                        "aus dem Warenkorb entfernt"),
    "product_added_to_wishlist": _Event("Produkt", "Produkte", "n", "auf die Wunschliste gesetzt",
                                        "auf die Wunschliste gesetzt"),
    "product_reviewed": _Event("Produkt", "Produkte", "n", "bewertet", "bewertet"),
    "order_created": _Event("Bestellung", "Bestellungen", "f", "aufgegeben"),
    "order_delivered": _Event("Bestellung", "Bestellungen", "f", "geliefert bekommen", "geliefert"),
    "order_refunded": _Event("Bestellung", "Bestellungen", "f", "erstattet bekommen", "erstattet"),
    "order_cancelled": _Event("Bestellung", "Bestellungen", "f", "storniert", "storniert"),
    "email_sent": _Event("E-Mail", "E-Mails", "f", "erhalten", "erhalten"),
    "email_opened": _Event("E-Mail", "E-Mails", "f", "geöffnet", "geöffnet"),
    "email_clicked": _Event("E-Mail-Link", "E-Mail-Links", "m", "angeklickt", "angeklickt"),
    "sms_clicked": _Event("SMS-Link", "SMS-Links", "m", "angeklickt", "angeklickt"),
    "popup_form_filled": _Event("Pop-up-Formular", "Pop-up-Formulare", "n", "ausgefüllt"),
    "subscribed": _Event("Anmeldung", "Anmeldungen", "f", "abgeschlossen"),
    "session_started": _Event("Sitzung", "Sitzungen", "f", "begonnen"),
    "page_viewed": _Event("Seite", "Seiten", "f", "aufgerufen", "aufgerufen"),
    "category_viewed": _Event("Kategorieseite", "Kategorieseiten", "f", "aufgerufen", "aufgerufen"),
    "brand_viewed": _Event("Markenseite", "Markenseiten", "f", "aufgerufen", "aufgerufen"),
    "search_performed": _Event("Suche", "Suchen", "f", "durchgeführt"),
    "checkout_step_viewed": _Event("Checkout-Schritt", "Checkout-Schritte", "m", "aufgerufen", "aufgerufen"),
}
SET_PROPERTIES = frozenset({"tags", "customer_groups"})


def _event(name: str) -> _Event:
    return EVENTS.get(name) or _Event(f"Ereignis „{name}“", f"Ereignisse „{name}“", "n", "gehabt")


def _label(name: str) -> str:
    return PROPERTY_LABELS.get(name) or f"Eigenschaft „{name}“"


def _attr(name: str) -> str:
    return ATTRIBUTE_LABELS.get(name) or f"das Attribut „{name}“"


def quoted(value: object) -> str:
    if isinstance(value, str):
        return f"„{value}“"
    if isinstance(value, bool):
        return "„ja“" if value else "„nein“"
    if isinstance(value, (Decimal, int)):
        return number_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _list(values: tuple, word: str) -> str:
    return joined([quoted(v) for v in values], word)


def _neither(values: tuple) -> str:
    items = [quoted(v) for v in values]
    if len(items) == 1:
        return f"nicht {items[0]}"
    return "weder " + ", ".join(items[:-1]) + " noch " + items[-1]


def _span(duration: Duration) -> str:
    if duration.unit == "days":
        return f"{duration.amount} {'Tag' if duration.amount == 1 else 'Tage'}"
    return f"{duration.amount} {'Stunde' if duration.amount == 1 else 'Stunden'}"


def _time(op: str, value: Value, negated: bool = False) -> str:
    """A time against op/value, verb last: "vor dem 2026-01-01 liegt", "mehr als 90 Tage zurückliegt"."""
    no = "nicht " if negated else ""
    if op == "before":
        return f"{no}vor dem {quoted(value)} liegt"
    if op == "after":
        return f"{no}nach dem {quoted(value)} liegt"
    if op == "on":
        return f"{no}am {quoted(value)} liegt"
    if op == "between":
        assert isinstance(value, tuple)
        return f"{no}zwischen dem {quoted(value[0])} und dem {quoted(value[1])} liegt"
    assert isinstance(value, Duration)
    if op == "within_last":
        if value.amount == 1:
            return f"{no}{'heute' if value.unit == 'days' else 'in der aktuellen Stunde'} liegt"
        days = "Tage" if value.unit == "days" else "Stunden"
        return f"{no}innerhalb der letzten {value.amount} {days} liegt"
    assert op == "more_than_ago", op
    return f"{no}mehr als {_span(value)} zurückliegt"


def _compare(op: str, value: Value, be: str = "ist") -> str:
    """A present value against op/value, verb last."""
    if op == "eq":
        return f"{quoted(value)} {be}"
    if op == "neq":
        return f"nicht {quoted(value)} {be}"
    if op == "in":
        return f"{_list(value, 'oder')} {be}"  # type: ignore[arg-type]
    if op == "not_in":
        return f"{_neither(value)} {be}"  # type: ignore[arg-type]
    if op == "contains":
        return f"{quoted(value)} enthält"
    if op == "starts_with":
        return f"mit {quoted(value)} beginnt"
    if op == "ends_with":
        return f"auf {quoted(value)} endet"
    if op in ("gt", "gte", "lt", "lte"):
        words = {"gt": "größer als", "gte": "mindestens", "lt": "kleiner als", "lte": "höchstens"}[op]
        return f"{words} {quoted(value)} {be}"
    if op in ("between", "not_between"):
        assert isinstance(value, tuple)
        no = "" if op == "between" else "nicht "
        the = "dem " if isinstance(value[0], dt.date) else ""  # "zwischen dem 2026-01-01 und dem ..."
        return f"{no}zwischen {the}{quoted(value[0])} und {the}{quoted(value[1])} liegt"
    return _time(op, value)


def _negated_compare(op: str, value: Value) -> str:
    if op in NUMBER_NEGATION:
        return _compare(NUMBER_NEGATION[op], value)
    flipped = {"in": "not_in", "not_in": "in", "between": "not_between"}
    if op in flipped:
        return _compare(flipped[op], value)
    if op == "contains":
        return f"{quoted(value)} nicht enthält"
    if op == "starts_with":
        return f"nicht mit {quoted(value)} beginnt"
    if op == "ends_with":
        return f"nicht auf {quoted(value)} endet"
    return _time(op, value, negated=True)


def _set(op: str, value: Value, verb: str = "enthalten") -> str:
    if op == "has":
        return f"{quoted(value)} {verb}"
    assert isinstance(value, tuple)
    if op == "has_any":
        return f"{_list(value, 'oder')} {verb}"
    if op == "has_all":
        return f"{_list(value, 'und')} {verb}"
    assert op == "has_none", op
    return f"{_neither(value)} {verb}"


class German(Wording):
    and_word = "und"
    or_word = "oder"

    def property(self, name: str, op: str, value: Value) -> str:
        label = _label(name)
        plural = name in SET_PROPERTIES
        if op == "exists":
            return f"deren {label} {'nicht leer sind' if plural else 'gesetzt ist'}"
        if op == "not_exists":
            return f"deren {label} {'leer sind' if plural else 'nicht gesetzt ist'}"
        if is_set_op(op):
            return f"deren {label} {_set(op, value)}"
        return f"deren {label} {_compare(op, value)}"

    def property_negated(self, name: str, op: str, value: Value) -> str:
        label = _label(name)
        if op == "has_all":
            assert isinstance(value, tuple)
            return f"deren {label} nicht alle von {_list(value, 'und')} enthalten"
        return f"deren {label} {_negated_compare(op, value)} (oder nicht gesetzt ist)"

    def event_count(self, event: EventCondition, form: CountForm) -> str:
        words = _event(event.event)
        where, window = self._where(event), _window(event.window)
        kind, low, high = form.kind, form.low, form.high
        if kind == "some":
            amount = f"{_A[words.gender]} {words.noun}"
        elif kind == "none":
            amount = f"{_NO[words.gender]} {words.noun}"
        elif kind == "anything":
            amount = f"beliebig viele {words.nouns}"
        elif kind == "impossible":
            amount = f"weniger als null {words.nouns}"
        elif kind == "between":
            amount = f"zwischen {low} und {high} {words.nouns}"
        elif kind == "outside":
            amount = f"weniger als {low} oder mehr als {high} {words.nouns}"
        else:
            prefix = {"at_least": "mindestens", "at_most": "höchstens", "exactly": "genau",
                      "not_exactly": "nicht genau"}[kind]
            amount = f"{prefix} {low} {words.noun if low == 1 else words.nouns}"
        suffix = {"anything": " (auch keine)", "impossible": " (niemand)"}.get(kind, "")
        return f"die{window} {amount}{where} {words.done} haben{suffix}"

    def event_sum(self, event: EventCondition, attr: str, op: str, value: Value) -> str:
        words = _event(event.event)
        total = SUM_LABELS.get(attr) or f"Summe von „{attr}“"
        return f"deren {total} {words.of_all()}{self._where(event)}{_window(event.window)} {_compare(op, value)}"

    def event_time(self, event: EventCondition, measure: FirstLast, negated: bool) -> str:
        words = _event(event.event)
        subject = words.subject(_FIRST if measure.which == "first" else _LAST)
        where, window = self._where(event), _window(event.window)
        clause = f"deren {subject}{where}{window} {_time(measure.op, measure.value, negated)}"
        if not negated:
            return clause
        return f"{clause} (oder die{window} {_NO[words.gender]} {words.noun}{where} {words.done} haben)"

    @staticmethod
    def _where(event: EventCondition) -> str:
        if not event.where:
            return ""
        parts = []
        for condition in event.where:
            label, op, value = _attr(condition.attr), condition.op, condition.value
            if op == "exists":
                parts.append(f"{label} gesetzt ist")
            elif op == "not_exists":
                parts.append(f"{label} nicht gesetzt ist")
            elif is_set_op(op):
                parts.append(f"{label} {_set(op, value)}")  # list attributes: plural
            else:
                parts.append(f"{label} {_compare(op, value)}")
        # "wobei" fits any noun's gender and number ("eine Bestellung", "4 Produkte").
        return " (wobei " + " und ".join(parts) + ")"

    def segment(self, segment_id: str, negated: bool) -> str:
        return f"die {'nicht ' if negated else ''}zum Segment {quoted(segment_id)} gehören"

    def sentence(self, body: str) -> str:
        return f"Kunden, {body}."


def _window(window: Window) -> str:
    if isinstance(window, AllTime):
        return ""
    if isinstance(window, Last):
        duration = window.duration
        if duration.amount == 1:
            return " heute" if duration.unit == "days" else " in der aktuellen Stunde"
        return f" in den letzten {_span(duration)}n" if duration.unit == "days" else f" in den letzten {_span(duration)}"
    if isinstance(window, Since):
        return f" seit dem {quoted(window.day)}"
    assert isinstance(window, Between)
    return f" zwischen dem {quoted(window.first_day)} und dem {quoted(window.last_day)}"
