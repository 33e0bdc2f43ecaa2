"""List pages filter, sort and page the same way (marketplace/listing.py): what is typed stays in the form, a
value that cannot be used says so beside its input and filters nothing, and every link keeps the others."""

import datetime as dt
import re

import pytest

from marketplace.dates import business_today

API_PRODUCT = {"product_type": "credit", "amount_min": "100000.00", "amount_max": "1000000.00", "term_min_months": 6,
               "term_max_months": 24, "rate_spread_bp": 30, "eligible_tiers": ["srdi", "little_giant"],
               "guarantee": "none"}


def _names(html: str) -> list[str]:
    return re.findall(r'<td>(?:<a href="/products/\d+">)?(Loan [^<]*)(?:</a>)?</td>', html)


@pytest.fixture
def catalogue(world, as_role):
    """55 published products of the first bank: Loan 01 … Loan 55, the larger the number the larger the amount."""
    bank = as_role("bank")
    for n in range(1, 56):
        made = bank.post("/api/v1/products", json={**API_PRODUCT, "name": f"Loan {n:02d}",
                                                   "amount_max": f"{1_000_000 + n * 10_000}.00"})
        assert made.status_code == 201, made.json
        bank.post(f"/api/v1/products/{made.json['id']}/publish")


def test_the_catalogue_pages_by_fifty_and_keeps_its_filters_on_the_next_page(catalogue, world, browser_of):
    browser = browser_of(world.enterprise_user)
    first = browser.get("/products?product_type=credit").text
    assert len(_names(first)) == 50 and 'data-total="55"' in first and "1–50 of 55" in first
    next_link = re.search(r'<a href="([^"]+)">Next', first).group(1).replace("&amp;", "&")
    assert "product_type=credit" in next_link and "page=2" in next_link
    second = browser.get(next_link).text
    assert _names(second) == [f"Loan {n}" for n in range(51, 56)]


def test_the_catalogue_searches_and_sorts_by_any_column_header(catalogue, world, browser_of):
    browser = browser_of(world.enterprise_user)
    found = browser.get("/products?q=05+LOAN").text  # every word, anywhere, in any case
    assert _names(found) == ["Loan 05"]
    assert 'value="05 LOAN"' in found

    assert 'data-total="55"' in browser.get("/products", query_string={"q": world.bank.name}).text
    assert _names(browser.get("/products?sort=bank").text)[:2] == ["Loan 01", "Loan 02"]

    largest_first = browser.get("/products?sort=amount").text
    assert _names(largest_first)[:3] == ["Loan 55", "Loan 54", "Loan 53"]
    assert 'aria-sort="descending"' in largest_first
    # The active column's header turns the order round.
    toggle = re.search(r'<a class="sort" href="([^"]+)">Amount \(CNY\) ↓', largest_first).group(1)
    smallest_first = browser.get(toggle.replace("&amp;", "&")).text
    assert _names(smallest_first)[:2] == ["Loan 01", "Loan 02"]


def test_a_value_the_list_cannot_use_is_flagged_beside_its_input_and_filters_nothing(catalogue, world, browser_of):
    browser = browser_of(world.enterprise_user)
    page = browser.get("/products?product_type=mortgage&sort=colour&q=Loan").text
    assert 'id="product_type-error">Choose one of the listed values.' in page
    assert 'id="sort-error">There is no sorting by “colour”.' in page
    assert 'data-total="55"' in page  # the search still applies, the bad values do not

    nothing = browser.get("/products?q=no+such+product").text
    assert "Nothing matches these filters." in nothing and 'href="/products">Clear the filters' in nothing


def test_an_enterprise_pages_through_all_its_requests_newest_first(world, as_role, browser_of):
    enterprise = as_role("enterprise")
    for n in range(52):
        assert enterprise.post("/api/v1/financing-requests", json={
            "amount": "1000000.00", "term_months": 12, "purpose": f"Purpose {n}"}).status_code == 201
    browser = browser_of(world.enterprise_user)
    first = browser.get("/enterprise/requests").text
    assert "1–50 of 52" in first and "Purpose 51" in first and "Purpose 1<" not in first
    second = browser.get("/enterprise/requests?page=2").text
    assert "Purpose 1<" in second and "Purpose 0<" in second
    dated = browser.get("/enterprise/requests?from=2020-13-01").text
    assert 'id="from-error">Enter a date as YYYY-MM-DD.' in dated and 'data-total="52"' in dated
    today = business_today()  # filed today in Shanghai, whatever the hour in UTC
    assert 'data-total="52"' in browser.get(f"/enterprise/requests?from={today}&to={today}").text
    yesterday = browser.get(f"/enterprise/requests?to={today - dt.timedelta(days=1)}").text
    assert "Nothing matches these filters." in yesterday


def test_a_banks_queue_shows_what_awaits_a_decision_unless_asked_for_all(world, as_role, browser_of):
    bank = as_role("bank")
    made = bank.post("/api/v1/products", json={**API_PRODUCT, "name": "Loan A"}).json
    bank.post(f"/api/v1/products/{made['id']}/publish")
    enterprise = as_role("enterprise")
    for purpose in ("first", "second"):
        request = enterprise.post("/api/v1/financing-requests", json={
            "amount": "500000.00", "term_months": 12, "purpose": purpose}).json
        enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                        json={"offer_id": request["offers"][0]["id"]})
    application_ids = [a["id"] for a in bank.get("/api/v1/applications").json]
    bank.post(f"/api/v1/applications/{application_ids[0]}/decision", json={"decision": "approved"})

    browser = browser_of(world.bank_user)
    waiting = browser.get("/bank/applications").text
    assert re.findall(r'data-application-id="(\d+)"', waiting) == [str(application_ids[1])]
    everything = browser.get("/bank/applications?status=all").text
    assert len(re.findall(r'data-application-id="(\d+)"', everything)) == 2
    assert '<option value="all" selected>' in everything
    by_name = browser.get(f"/bank/applications?status=all&q={world.enterprise.name}").text
    assert len(re.findall(r'data-application-id="(\d+)"', by_name)) == 2
    assert "Nothing matches these filters." in browser.get("/bank/applications?status=all&q=nobody").text


def test_the_logs_read_oldest_or_newest_first_and_flag_any_other_order(world, browser_of):
    admin = browser_of(world.admin_user)
    for user in (world.bank_user, world.agency_user):
        browser_of(user)  # two more sign-ins on the audit trail
    newest = re.findall(r'data-entry="(\d+)"', admin.get("/admin/audit").text)
    oldest = re.findall(r'data-entry="(\d+)"', admin.get("/admin/audit?order=oldest").text)
    assert len(newest) >= 3 and newest == sorted(newest, key=int, reverse=True) and oldest == newest[::-1]

    for path in ("/admin/audit?order=sideways", "/admin/ledger?order=sideways"):
        refused = admin.get(path)
        assert refused.status_code == 422 and 'id="order-error">Choose oldest or newest first.' in refused.text
    assert '<option value="newest" selected>' in admin.get("/admin/ledger?order=newest").text
    outbox = admin.get("/admin/outbox?status=&bank_id=987654").text
    assert 'id="bank_id-error">Choose one of the listed values.' in outbox


def test_the_catalogue_downloads_what_the_list_shows(catalogue, world, browser_of):
    browser = browser_of(world.enterprise_user)
    page = browser.get("/products?q=loan+5&sort=amount").text
    link = re.search(r'href="(/products/export\.csv[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "q=loan+5" in link and "sort=amount" in link
    names = [row.split(",")[3] for row in browser.get(link).text.splitlines()[1:]]
    assert names == ["Loan 55", "Loan 54", "Loan 53", "Loan 52", "Loan 51", "Loan 50", "Loan 45", "Loan 35",
                     "Loan 25", "Loan 15", "Loan 05"]
