"""Simplified Chinese is the interface's default language and English one click away, remembered per user; API error
texts follow Accept-Language; large amounts read in 万元; every message of the code is in the zh_Hans catalogue."""

import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from marketplace import create_app, db
from marketplace.auth.models import User
from marketplace.i18n import wan, yuan
from tests.pages import csrf_token, sign_in

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "marketplace" / "translations" / "zh_Hans" / "LC_MESSAGES"


@pytest.fixture
def chinese_by_default(app, monkeypatch):
    """The app as deployed: the test profile reads English unless told, the demo and production read Chinese."""
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "zh_Hans")
    return app


def choose(browser, locale, back="/login"):
    token = csrf_token(browser.get(back).text)
    return browser.post("/language", data={"locale": locale, "next": back, "csrf_token": token})


def saved_locale(app, user):
    with app.app_context():
        return db.session.get(User, user.id).locale


def test_the_demo_and_production_profiles_speak_chinese_until_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("MARKETPLACE_BABEL_DEFAULT_LOCALE", raising=False)
    demo = create_app({"PROFILE": "demo", "DATABASE_URL": f"sqlite:///{tmp_path}/demo.db"})
    assert demo.config["BABEL_DEFAULT_LOCALE"] == "zh_Hans"
    assert create_app({"PROFILE": "test", "DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}).config[
        "BABEL_DEFAULT_LOCALE"] == "en"


def test_the_sign_in_page_is_chinese_by_default_with_english_one_click_away(chinese_by_default):
    browser = chinese_by_default.test_client()
    page = browser.get("/login").text
    assert '<html lang="zh-Hans">' in page
    assert "登录" in page and "Sign in" not in page
    assert 'value="en"' in page and ">English</button>" in page

    switched = choose(browser, "en")

    assert switched.status_code == 302 and switched.headers["Location"] == "/login"
    page = browser.get("/login").text
    assert '<html lang="en">' in page and "Sign in" in page and ">中文</button>" in page


def test_a_signed_in_users_choice_is_remembered_in_every_new_session(chinese_by_default, world):
    browser = sign_in(chinese_by_default, world.bank_user)
    assert "我的信贷产品" in browser.get("/bank/products").text

    choose(browser, "en", back="/bank/products")

    assert saved_locale(chinese_by_default, world.bank_user) == "en"
    assert "My products" in sign_in(chinese_by_default, world.bank_user).get("/bank/products").text
    assert "我的信贷产品" in sign_in(chinese_by_default, world.bank2_user).get("/bank/products").text  # others: default


def test_a_language_chosen_on_the_sign_in_page_is_kept_for_the_user(chinese_by_default, world):
    browser = chinese_by_default.test_client()
    choose(browser, "en")
    browser.post("/login", data={"username": world.agency_user.username, "password": "correct-horse-battery",
                                 "csrf_token": csrf_token(browser.get("/login").text)})
    assert saved_locale(chinese_by_default, world.agency_user) == "en"

    other_browser = sign_in(chinese_by_default, world.agency_user)
    choose(other_browser, "zh_Hans", back="/agency/batches")

    assert saved_locale(chinese_by_default, world.agency_user) == "zh_Hans"
    assert "批次" in other_browser.get("/agency/batches").text


def test_an_unknown_language_changes_nothing_and_says_why(chinese_by_default, world):
    browser = sign_in(chinese_by_default, world.bank_user)

    response = choose(browser, "fr", back="/bank/products")

    assert response.status_code == 302
    assert saved_locale(chinese_by_default, world.bank_user) is None
    assert "中文, English" in browser.get("/bank/products").text


def test_the_switch_only_returns_to_a_page_of_this_site(chinese_by_default):
    browser = chinese_by_default.test_client()
    token = csrf_token(browser.get("/login").text)
    response = browser.post("/language", data={"locale": "en", "next": "https://evil.example/", "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_api_error_details_follow_accept_language(chinese_by_default, as_role):
    bank = as_role("bank")
    bad = {"name": "", "product_type": "credit"}

    english = bank.post("/api/v1/products", json=bad, headers={"Accept-Language": "en-US,en;q=0.9"})
    chinese = bank.post("/api/v1/products", json=bad, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    default = bank.post("/api/v1/products", json=bad)

    assert english.status_code == chinese.status_code == default.status_code == 422
    assert english.json["detail"] == "Correct the fields listed in errors."
    assert english.json["errors"]["amount_min"] == ["This field is required."]
    assert chinese.json["detail"] != english.json["detail"] and re.search(r"[\u4e00-\u9fff]", chinese.json["detail"])
    assert re.search(r"[\u4e00-\u9fff]", chinese.json["title"])
    assert chinese.json["errors"]["amount_min"] != ["This field is required."]
    assert set(chinese.json["errors"]) == set(english.json["errors"])  # field names stay English
    assert default.json["detail"] == chinese.json["detail"]


def test_marshmallow_messages_with_values_are_translated_with_their_values(chinese_by_default, as_role):
    response = as_role("bank").post("/api/v1/products", headers={"Accept-Language": "zh-CN"}, json={
        "name": "x", "product_type": "mortgage", "amount_min": "1.00", "amount_max": "2.00", "term_min_months": 1,
        "term_max_months": 2, "rate_spread_bp": 0, "eligible_tiers": ["srdi"], "guarantee": "none"})
    assert response.status_code == 422
    [message] = response.json["errors"]["product_type"]
    assert re.search(r"[\u4e00-\u9fff]", message) and "credit" in message, message


def test_large_amounts_read_in_wan_in_chinese_and_in_yuan_in_english(chinese_by_default):
    with chinese_by_default.test_request_context("/login"):
        assert wan(Decimal("12345678.90")) == "1,234.57 万元"
        assert wan(Decimal("50000")) == "5.00 万元"
        assert wan(None) == ""
    chinese_by_default.config["BABEL_DEFAULT_LOCALE"] = "en"
    with chinese_by_default.test_request_context("/login"):
        assert wan(Decimal("12345678.90")) == yuan(Decimal("12345678.90")) == "¥12,345,678.90"


# The catalogue ------------------------------------------------------------------------------------------------------

def extracted_messages(tmp_path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "N_", "--no-location", "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as file:
        return {message.id if isinstance(message.id, str) else message.id[0] for message in read_po(file) if message.id}


def zh_catalogue():
    with (CATALOGUE / "messages.po").open("rb") as file:
        return read_po(file, locale="zh_Hans")


def test_every_message_in_the_code_is_in_the_chinese_catalogue(tmp_path):
    in_catalogue = {message.id if isinstance(message.id, str) else message.id[0] for message in zh_catalogue()
                    if message.id}
    missing = extracted_messages(tmp_path) - in_catalogue
    assert not missing, f"run `make translations` and translate: {sorted(missing)[:10]}"


def test_no_message_in_the_chinese_catalogue_is_left_untranslated_or_fuzzy():
    empty = [message.id for message in zh_catalogue() if message.id and (
        not all(message.string) if isinstance(message.string, tuple) else not message.string)]
    fuzzy = [message.id for message in zh_catalogue() if message.id and message.fuzzy]
    assert not empty and not fuzzy, (empty[:10], fuzzy[:10])


def test_every_translation_keeps_the_placeholders_of_its_message():
    placeholder = re.compile(r"%\([a-z_0-9]+\)[sdf]|\{[a-z_0-9]*\}")
    wrong = []
    for message in zh_catalogue():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            if set(placeholder.findall(string)) != set(placeholder.findall(ids[-1])):
                wrong.append((ids[0], string))
    assert not wrong, wrong[:5]


def test_the_compiled_catalogue_is_the_current_one():
    def entries(catalogue):
        return {tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id:
                tuple(message.string) if isinstance(message.string, (list, tuple)) else message.string
                for message in catalogue if message.id}

    with (CATALOGUE / "messages.mo").open("rb") as file:
        compiled = entries(read_mo(file))
    assert compiled == entries(zh_catalogue()), "run `make translations`"
