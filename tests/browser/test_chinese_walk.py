"""Issue 22's acceptance walk: every role's pages in Chinese, as the demo's staff read them, show no Latin-script
name of an organisation or a product, no raw code (an enum value, an account code, an action name) and no "%%".

After an enterprise has filed a request and chosen a guaranteed offer (so the bank, the agency and the admin have
applications, batches, timelines and the audit trail to read), each demo user follows every link their pages lead
to, to a bound, in headless Chromium; each page's visible text is read and each navigation page saved as a
screenshot (test-output/browser/walk-<user>-<page>.png)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from marketplace import demo
from tests.browser.zh import choose_a_guaranteed_offer, sign_in, sign_out

pytestmark = pytest.mark.browser

USERS = [("enterprise", r"/enterprise/requests$"), ("bank", r"/bank/dashboard$"), ("agency", r"/agency/dashboard$"),
         ("admin", r"/admin/dashboard$")]
#: Pages a walk does not open: downloads, signing out, the API's documentation (for developers) and the sandbox.
NOT_WALKED = re.compile(r"/logout|/static/|export|template|\.(xlsx|csv|pdf)$|/documents/|/api/|/sandbox-bank|"
                        r"/favicon")
PAGES_PER_USER = 60
#: The English names the demo gives its organisations, products, pools and fee rules.
ENGLISH_NAMES = sorted({name for _zh, name, *_ in (*demo.BANKS, demo.AGENCY, *demo.ENTERPRISES)} |
                       {name for _code, _zh, name, *_ in demo.PRODUCTS} | {demo.RISK_POOL["name_en"]} |
                       {rule["name_en"] for rule in demo.FEE_RULES}, key=len, reverse=True)
#: Latin-script words a Chinese page may show: the language switch, a key name, file formats, standards, the demo's user
#: names and addresses.
ALLOWED = {"English", "Excel", "Ctrl", "xlsx", "csv", "admin", "bank", "bank2", "agency", "enterprise", "enterprise2",
           "demo-password"}
EMAIL = re.compile(r"[\w.+-]+@[\w.-]+")
URL = re.compile(r"https?://\S+")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.:/-]*[A-Za-z0-9_]|[A-Za-z]")


def foreign_words(text: str) -> list[str]:
    """The words of `text` a Chinese reader should not meet: any with a lowercase Latin letter (a raw enum value,
    snake_case, an action or account code, an English word) that is not allowed. Acronyms (LPR, XLSX, GB/T) pass."""
    text = URL.sub(" ", EMAIL.sub(" ", text))
    return sorted({word for word in WORD.findall(text)
                   if re.search(r"[a-z]", word) and word not in ALLOWED})


def _around(text: str, word: str) -> str:
    at = text.find(word)
    return " ".join(text[max(at - 20, 0):at + len(word) + 20].split())


def test_the_words_a_chinese_page_may_not_show_are_found() -> None:
    assert foreign_words("状态：published，科目 fiscal_fund:0:pool_funding，操作 user.signed_in") == [
        "fiscal_fund:0:pool_funding", "published", "user.signed_in"]
    assert foreign_words("LPR + 20 基点，XLSX，GB/T 2260，ZJFG-ZCB-2025，English，bank@demo.example") == []


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_every_page_of_every_role_reads_chinese(live_server: str, browser_page: Page, screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    sign_in(page, base_url, "enterprise", landing=USERS[0][1])
    choose_a_guaranteed_offer(page, base_url, "采购原材料")
    sign_out(page)

    findings: dict[str, list[str]] = {}
    walked = 0
    for username, landing in USERS:
        sign_in(page, base_url, username, landing=landing)
        nav = page.locator("header.topbar nav a").evaluate_all("links => links.map(a => a.pathname)")
        queue, seen = [urlsplit(page.url).path, *nav], set()
        while queue and len(seen) < PAGES_PER_USER:
            path = queue.pop(0)
            if path in seen or NOT_WALKED.search(path):
                continue
            seen.add(path)
            response = page.goto(base_url + path)
            assert response is not None and response.status < 500, f"{username}: {path} answered {response.status}"
            text = page.locator("body").inner_text()
            problems = [f"Latin name {name!r}" for name in ENGLISH_NAMES if name in text]
            problems += ["%%"] if "%%" in text else []
            problems += [f"word {word!r} in “{_around(text, word)}”" for word in foreign_words(text)]
            if problems:
                findings[f"{username} {path}"] = problems
            if path in nav:
                page.screenshot(path=screenshots / f"walk-{username}-{path.strip('/').replace('/', '-')}.png",
                                full_page=True)
            links = page.locator("main a[href^='/'], header.topbar nav a").evaluate_all(
                "links => links.map(a => a.pathname)")
            queue += [link for link in links if link not in seen]
        walked += len(seen)
        sign_out(page)
    assert walked >= 40
    assert findings == {}, "\n".join(f"{where}: {', '.join(found)}" for where, found in sorted(findings.items()))
