"""Turkish wording of rule summaries (indexes/rules/summary.py).

Turkish puts what describes a noun before it, so every condition is a participle phrase ("ülkesi "TR"
olan", "son 30 günde hiç sipariş vermemiş") and the sentence ends with "müşteriler". Labels are in
their possessive form ("ülkesi", "e-posta pazarlama izni"), which reads as "whose country". Numbers
never take a case suffix (that would need vowel harmony on digits): "more than 3" is said as "en az 4",
exact for whole counts, and number comparisons go through "değerinden" ("500 değerinden büyük").
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
    "email": "e-posta adresi", "phone": "telefon numarası", "account_status": "hesap durumu",
    "account_state": "hesap aktifliği", "marketing_consent": "e-posta pazarlama izni",
    "sms_consent": "SMS izni", "consent_updated_at": "izin güncelleme zamanı", "tags": "etiketleri",
    "customer_groups": "müşteri grupları", "total_order_value": "toplam sipariş tutarı",
    "b2b_status": "B2B durumu", "language": "dili", "country": "ülkesi", "city": "şehri",
    "account_activated_at": "hesap etkinleştirme zamanı", "password_updated_at": "şifre değiştirme zamanı",
    "birth_date": "doğum tarihi", "created_at": "kayıt zamanı", "order_count": "sipariş sayısı",
    "lifetime_value": "yaşam boyu değeri", "first_order_at": "ilk sipariş zamanı",
    "last_order_at": "son sipariş zamanı", "last_seen_at": "son etkinlik zamanı",
}
ATTRIBUTE_LABELS = {
    "product_id": "ürünü", "category": "kategorisi", "brand": "markası", "price": "fiyatı",
    "device": "cihazı", "quantity": "adedi", "rating": "puanı", "order_id": "sipariş numarası",
    "amount": "tutarı", "currency": "para birimi", "product_ids": "ürünleri", "item_count": "ürün adedi",
    "coupon": "kuponu", "campaign_id": "kampanyası", "url": "adresi", "form_id": "formu",
    "channel": "kanalı", "source": "kaynağı", "query": "arama sorgusu", "step": "adımı",
}


class _Event:
    """'{place}{amount} {noun} {done}': "sepete en az 2 ürün eklemiş"; `not_done` for none; as the
    subject of a sum or a first/last, '{which} {noun}' ("iade edilen sipariş")."""

    def __init__(self, noun: str, done: str, not_done: str, place: str = "", which: str = "") -> None:
        self.noun, self.done, self.not_done, self.place = noun, done, not_done, place
        self.subject = f"{which} {noun}" if which else noun


EVENTS = {
    "product_viewed": _Event("ürün", "görüntülemiş", "görüntülememiş", which="görüntülenen"),
    "product_added_to_cart": _Event("ürün", "eklemiş", "eklememiş", "sepete ", "sepete eklenen"),
    "product_removed_from_cart": _Event("ürün", "çıkarmış", "çıkarmamış", "sepetten ", "sepetten çıkarılan"),
    "product_added_to_wishlist": _Event("ürün", "eklemiş", "eklememiş", "favorilere ", "favorilere eklenen"),
    "product_reviewed": _Event("ürün", "değerlendirmiş", "değerlendirmemiş", which="değerlendirilen"),
    "order_created": _Event("sipariş", "vermiş", "vermemiş"),
    "order_delivered": _Event("sipariş", "teslim almış", "teslim almamış", which="teslim alınan"),
    "order_refunded": _Event("sipariş", "iade etmiş", "iade etmemiş", which="iade edilen"),
    "order_cancelled": _Event("sipariş", "iptal etmiş", "iptal etmemiş", which="iptal edilen"),
    "email_sent": _Event("e-posta", "almış", "almamış", which="alınan"),
    "email_opened": _Event("e-posta", "açmış", "açmamış", which="açılan"),
    "email_clicked": _Event("e-posta tıklaması", "yapmış", "yapmamış"),
    "sms_clicked": _Event("SMS tıklaması", "yapmış", "yapmamış"),
    "popup_form_filled": _Event("açılır form", "doldurmuş", "doldurmamış"),
    "subscribed": _Event("abonelik", "başlatmış", "başlatmamış"),
    "session_started": _Event("oturum", "başlatmış", "başlatmamış"),
    "page_viewed": _Event("sayfa", "görüntülemiş", "görüntülememiş", which="görüntülenen"),
    "category_viewed": _Event("kategori sayfası", "görüntülemiş", "görüntülememiş", which="görüntülenen"),
    "brand_viewed": _Event("marka sayfası", "görüntülemiş", "görüntülememiş", which="görüntülenen"),
    "search_performed": _Event("arama", "yapmış", "yapmamış"),
    "checkout_step_viewed": _Event("ödeme adımı", "görüntülemiş", "görüntülememiş", which="görüntülenen"),
}
SET_PROPERTIES = frozenset({"tags", "customer_groups"})


def _event(name: str) -> _Event:
    return EVENTS.get(name) or _Event(f'"{name}" olayı', "yaşamış", "yaşamamış")


def _label(name: str) -> str:
    return PROPERTY_LABELS.get(name) or f'"{name}" özelliği'


def _attr(name: str) -> str:
    return ATTRIBUTE_LABELS.get(name) or f'"{name}" alanı'


def quoted(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "evet" if value else "hayır"
    if isinstance(value, (Decimal, int)):
        return number_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _list(values: tuple, word: str) -> str:
    return joined([quoted(v) for v in values], word)


def _span(duration: Duration) -> str:
    return f"{duration.amount} {'gün' if duration.unit == 'days' else 'saat'}"


def _time(op: str, value: Value, negated: bool = False) -> str:
    """A time against op/value, ending in "olan" ("olmayan" when negated)."""
    be = "olmayan" if negated else "olan"
    if op == "before":
        return f"{quoted(value)} tarihinden önce {be}"
    if op == "after":
        return f"{quoted(value)} tarihinden sonra {be}"
    if op == "on":
        return f"{quoted(value)} tarihinde {be}"
    if op == "between":
        assert isinstance(value, tuple)
        return f"{quoted(value[0])} ile {quoted(value[1])} arasında {be}"
    assert isinstance(value, Duration)
    if op == "within_last":
        if value.amount == 1:
            return f"{'bugün' if value.unit == 'days' else 'bu saat içinde'} {be}"
        return f"son {_span(value)} içinde {be}"
    assert op == "more_than_ago", op
    unit = "günden" if value.unit == "days" else "saatten"
    return f"{value.amount} {unit} daha eski {be}"


def _compare(op: str, value: Value) -> str:
    """A present value against op/value, as the end of a participle phrase."""
    if op == "eq":
        return f"{quoted(value)} olan"
    if op == "neq":
        return f"{quoted(value)} dışında bir değer olan"
    if op == "in":
        return f"{_list(value, 'veya')} olan"  # type: ignore[arg-type]
    if op == "not_in":
        return f"{_list(value, 've')} dışında bir değer olan"  # type: ignore[arg-type]
    if op == "contains":
        return f"{quoted(value)} içeren"
    if op == "starts_with":
        return f"{quoted(value)} ile başlayan"
    if op == "ends_with":
        return f"{quoted(value)} ile biten"
    if op == "gt":
        return f"{quoted(value)} değerinden büyük olan"
    if op == "gte":
        return f"en az {quoted(value)} olan"
    if op == "lt":
        return f"{quoted(value)} değerinden küçük olan"
    if op == "lte":
        return f"en fazla {quoted(value)} olan"
    if op in ("between", "not_between"):
        assert isinstance(value, tuple)
        return f"{quoted(value[0])} ile {quoted(value[1])} arasında {'olan' if op == 'between' else 'olmayan'}"
    return _time(op, value)


def _negated_compare(op: str, value: Value) -> str:
    if op in NUMBER_NEGATION:
        return _compare(NUMBER_NEGATION[op], value)
    flipped = {"in": "not_in", "not_in": "in", "between": "not_between"}
    if op in flipped:
        return _compare(flipped[op], value)
    if op == "contains":
        return f"{quoted(value)} içermeyen"
    if op == "starts_with":
        return f"{quoted(value)} ile başlamayan"
    if op == "ends_with":
        return f"{quoted(value)} ile bitmeyen"
    return _time(op, value, negated=True)


def _set(label: str, op: str, value: Value) -> str:
    if op == "has":
        return f"{label} arasında {quoted(value)} bulunan"
    assert isinstance(value, tuple)
    if op == "has_any":
        return f"{label} arasında {_list(value, 'veya')} bulunan"
    if op == "has_all":
        return f"{label} arasında {_list(value, 've')} bulunan"
    assert op == "has_none", op
    return f"{label} arasında {_list(value, 'veya')} bulunmayan"


class Turkish(Wording):
    and_word = "ve"
    or_word = "veya"

    def property(self, name: str, op: str, value: Value) -> str:
        label = _label(name)
        if op == "exists":
            return f"{label} {'boş olmayan' if name in SET_PROPERTIES else 'tanımlı olan'}"
        if op == "not_exists":
            return f"{label} {'boş olan' if name in SET_PROPERTIES else 'tanımlı olmayan'}"
        if is_set_op(op):
            return _set(label, op, value)
        return f"{label} {_compare(op, value)}"

    def property_negated(self, name: str, op: str, value: Value) -> str:
        label = _label(name)
        if op == "has_all":
            assert isinstance(value, tuple)
            return f"{label} arasında {_list(value, 've')} birlikte bulunmayan"
        return f"{label} {_negated_compare(op, value)} (ya da {label} tanımlı olmayan)"

    def event_count(self, event: EventCondition, form: CountForm) -> str:
        words = _event(event.event)
        where, window = self._where(event), _window(event.window)
        kind, low, high = form.kind, form.low, form.high
        noun = f"{words.noun}{where}"
        if kind == "some":
            return f"{window}{words.place}{noun} {words.done}"
        if kind == "none":
            return f"{window}{words.place}hiç {noun} {words.not_done}"
        if kind == "anything":
            return f"{window}{words.place}herhangi sayıda {noun} {words.done} (hiç olmayanlar dahil)"
        if kind == "impossible":
            return f"{window}{words.place}sıfırdan az {noun} {words.done} (hiçbir müşteri)"
        if kind == "not_exactly":
            return f"{window}{noun} sayısı {low} olmayan"
        if kind == "outside":
            return f"{window}{noun} sayısı {low} ile {high} arasında olmayan"
        if kind == "between":
            return f"{window}{words.place}{low} ile {high} arası {noun} {words.done}"
        amount = {"at_least": "en az", "at_most": "en fazla", "exactly": "tam"}[kind]
        return f"{window}{words.place}{amount} {low} {noun} {words.done}"

    def event_sum(self, event: EventCondition, attr: str, op: str, value: Value) -> str:
        words = _event(event.event)
        return f"{_window(event.window)}{words.subject}{self._where(event)} {_attr(attr)} toplamı {_compare(op, value)}"

    def event_time(self, event: EventCondition, measure: FirstLast, negated: bool) -> str:
        words = _event(event.event)
        which = "ilk" if measure.which == "first" else "son"
        subject = f"{_window(event.window)}{which} {words.subject}{self._where(event)} zamanı"
        if not negated:
            return f"{subject} {_time(measure.op, measure.value)}"
        return (f"{subject} {_time(measure.op, measure.value, negated=True)} "
                f"(ya da {_window(event.window)}{words.place}hiç {words.noun} {words.not_done})")

    @staticmethod
    def _where(event: EventCondition) -> str:
        if not event.where:
            return ""
        parts = []
        for condition in event.where:
            label, op, value = _attr(condition.attr), condition.op, condition.value
            if op == "exists":
                parts.append(f"{label} tanımlı olan")
            elif op == "not_exists":
                parts.append(f"{label} tanımlı olmayan")
            elif is_set_op(op):
                parts.append(_set(label, op, value))
            else:
                parts.append(f"{label} {_compare(op, value)}")
        return " (" + " ve ".join(parts) + ")"

    def segment(self, segment_id: str, negated: bool) -> str:
        return f"{quoted(segment_id)} segmentinde {'olmayan' if negated else 'olan'}"

    def sentence(self, body: str) -> str:
        start = 1 if body.startswith("(") else 0  # capitalise the first word, also inside a parenthesis
        return f"{body[:start]}{_capital(body[start:start + 1])}{body[start + 1:]} müşteriler."


def _capital(letter: str) -> str:
    # Turkish dotted and dotless i: "ilk" -> "İlk", "ısrar" -> "Israr".
    return {"i": "İ", "ı": "I"}.get(letter, letter.upper())


def _window(window: Window) -> str:
    """Where the window goes: at the front of the phrase, with its trailing space."""
    if isinstance(window, AllTime):
        return ""
    if isinstance(window, Last):
        duration = window.duration
        if duration.amount == 1:
            return "bugün " if duration.unit == "days" else "bu saat içinde "
        return f"son {duration.amount} {'günde' if duration.unit == 'days' else 'saatte'} "
    if isinstance(window, Since):
        return f"{quoted(window.day)} tarihinden bu yana "
    assert isinstance(window, Between)
    return f"{quoted(window.first_day)} ile {quoted(window.last_day)} arasında "
