"""Languages: Simplified Chinese by default, English one click away and remembered per user; the API's error texts
follow the request's Accept-Language. Amounts keep two decimals and thousands separators; officers read large ones
in 万元."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale, gettext
from flask_login import current_user

from marketplace.dates import beijing_time
from marketplace.extensions import babel

#: The interface languages, each named in itself (the switch shows the other one).
LANGUAGES = {"zh_Hans": "中文", "en": "English"}
#: The session key of an anonymous visitor's choice (a signed-in user's is kept on the user).
SESSION_KEY = "locale"
WAN = Decimal(10000)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for translation, translate later")
    """Mark a message for the catalogue without translating it here; it is translated where it is shown."""
    return message


def default_locale() -> str:
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def from_accept_language() -> str | None:
    """The first language of Accept-Language that the marketplace speaks (any zh-* is Simplified Chinese)."""
    for value, quality in request.accept_languages:
        tag = value.lower().replace("_", "-")
        if quality <= 0:
            continue
        if tag == "zh" or tag.startswith("zh-"):
            return "zh_Hans"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return None


def select_locale() -> str:
    if not has_request_context():
        return default_locale()  # jobs and commands
    if request.path.startswith("/api/"):
        return from_accept_language() or default_locale()
    if current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    chosen = session.get(SESSION_KEY)
    return chosen if chosen in LANGUAGES else default_locale()


def locale_name() -> str:
    """The current locale as a catalogue name: zh_Hans or en."""
    locale = get_locale()
    return "zh_Hans" if locale is not None and locale.language == "zh" else "en"


#: The statuses of every lifecycle, as a sentence names them ("a published product cannot become draft").
STATE_WORDS = {
    "draft": N_("draft"), "published": N_("published"), "suspended": N_("suspended"), "archived": N_("archived"),
    "pending_bank": N_("awaiting the bank's countersignature"), "returned": N_("returned to the agency"),
    "active": N_("in force"), "expired": N_("expired"), "terminated": N_("terminated"), "open": N_("open"),
    "submitted": N_("submitted"), "decided": N_("decided"), "pending": N_("pending"), "approved": N_("approved"),
    "rejected": N_("rejected"), "released": N_("released"), "defaulted": N_("defaulted"),
    "compensated": N_("compensated"), "closed": N_("closed"), "filed": N_("filed"), "paid": N_("paid"),
    "withdrawn": N_("withdrawn"), "routed": N_("sent to a bank"), "declined": N_("declined"), "funded": N_("funded"),
    "guarantee_unavailable": N_("without a guarantee available"), "countered": N_("answered with a counter-offer"),
    "counter_declined": N_("with its counter-offer declined"), "counter_lapsed": N_("with its counter-offer lapsed"),
    "disbursed": N_("disbursed"), "repaying": N_("being repaid"), "repaid": N_("repaid"), "overdue": N_("overdue"),
    "recovering": N_("in recovery"), "processing": N_("processing"), "completed": N_("completed"),
    "failed": N_("failed"), "delivered": N_("delivered"), "dead": N_("given up"),
}
#: What the rows of a lifecycle are, as a sentence names them.
OBJECT_WORDS = {
    "product": N_("product"), "agreement": N_("agreement"), "batch": N_("batch"), "guarantee": N_("guarantee"),
    "claim": N_("claim"), "financing_request": N_("financing request"), "application": N_("application"),
    "loan": N_("loan"), "outbox_message": N_("message"), "user": N_("user"), "organization": N_("organisation"),
    "bank": N_("bank"), "agency": N_("guarantee agency"), "enterprise": N_("enterprise"), "fee_rule": N_("fee rule"),
    "risk_pool": N_("risk pool"), "pool_deposit": N_("pool deposit"), "loan_event": N_("loan event"),
    "claim_document": N_("claim document"), "tier_import": N_("tier list import"),
    "tier_certification": N_("tier certification"), "lpr_rate": N_("LPR"),
    "subsidy_settlement": N_("subsidy settlement"),
    "journal_entry": N_("journal entry"), "pricing_bounds": N_("pricing bounds"), "marketplace": N_("marketplace"),
}


def state_word(status: Any) -> str:
    """A status in the reader's words: ProductStatus.PUBLISHED → 已发布 (its value when it has no words)."""
    value = getattr(status, "value", status)
    return gettext(STATE_WORDS[value]) if value in STATE_WORDS else str(value)


def object_word(name: str) -> str:
    return gettext(OBJECT_WORDS[name]) if name in OBJECT_WORDS else name.replace("_", " ")


def in_reader_language(chinese: str, english: str | None) -> str:
    """A name in the reader's language: the English one in the English interface when there is one, else Chinese."""
    return english if english and locale_name() == "en" else chinese


def listed(items: Iterable[str]) -> str:
    """Words one after the other as the reader lists them: 甲、乙 in Chinese, "A, B" in English."""
    return ("、" if locale_name() == "zh_Hans" else ", ").join(items)


@dataclass(frozen=True)
class Names:
    """A name in both languages, read in the reader's when it is put into words (a notification's recipient's)."""

    name: str
    name_en: str | None = None

    @property
    def display_name(self) -> str:
        return in_reader_language(self.name, self.name_en)


def basis_points(spread: int) -> str:
    """A spread over the LPR: "+20 bp", or "+20 个基点" in Chinese."""
    return f"{spread:+d} {'个基点' if locale_name() == 'zh_Hans' else 'bp'}"


def yuan(amount: Decimal | int | None) -> str:
    """¥1,234,567.89 (both languages)."""
    return "" if amount is None else f"¥{Decimal(amount):,.2f}"


def percent(rate: Decimal | str | None) -> str:
    """A rate as a fraction (0.0345) in per cent to two places, half up: 3.45%."""
    if rate is None:
        return ""
    return f"{(Decimal(rate) * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def wan(amount: Decimal | int | None) -> str:
    """A large amount as officers read it: 123.46 万元 in Chinese (to the hundred yuan, half up), ¥1,234,567.89 in
    English (which has no 万)."""
    if amount is None:
        return ""
    if locale_name() != "zh_Hans":
        return yuan(amount)
    in_wan = (Decimal(amount) / WAN).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{in_wan:,.2f} 万元"


YI = Decimal(100_000_000)


def total(amount: Decimal | int | None) -> str:
    """A large total: 12.35 亿元 from one 亿 up and 万元 below it in Chinese; ¥1,234,567,890.00 in English."""
    if amount is None or locale_name() != "zh_Hans" or abs(Decimal(amount)) < YI:
        return wan(amount)
    return f"{(Decimal(amount) / YI).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f} 亿元"


def in_table_unit(label: str) -> str:
    """A column header over amounts written by `table_amount`: 金额（万元） in Chinese, Amount (CNY) in English."""
    return f"{label}（万元）" if locale_name() == "zh_Hans" else f"{label} (CNY)"


def table_amount(amount: Decimal | int | None) -> str:
    """An amount in a table whose header says the unit: 123.46 (万元) in Chinese, 1,234,567.89 (CNY) in English."""
    if amount is None:
        return ""
    if locale_name() != "zh_Hans":
        return f"{Decimal(amount):,.2f}"
    return f"{(Decimal(amount) / WAN).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def compact(amount: Decimal | int | None) -> str:
    """A round amount in few characters, for a chart's axis: 1,200万 or 3.5亿 in Chinese, ¥12M or ¥350K in English."""
    if amount is None:
        return ""
    amount = Decimal(amount)
    if locale_name() == "zh_Hans":
        steps = ((Decimal(100_000_000), "亿"), (WAN, "万"))
    else:
        steps = ((Decimal(1_000_000_000), "B"), (Decimal(1_000_000), "M"), (Decimal(1_000), "K"))
    prefix = "" if locale_name() == "zh_Hans" else "¥"
    for size, word in steps:
        if abs(amount) >= size:
            scaled = (amount / size).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP).normalize()
            return f"{prefix}{scaled:,f}{word}"
    return f"{prefix}{amount.normalize():,f}"


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals.update(get_locale=get_locale, locale_name=locale_name, languages=LANGUAGES, yuan=yuan,
                                 wan=wan, total=total, in_table_unit=in_table_unit, table_amount=table_amount,
                                 compact=compact, percent=percent, basis_points=basis_points)
    app.jinja_env.filters["beijing"] = beijing_time
