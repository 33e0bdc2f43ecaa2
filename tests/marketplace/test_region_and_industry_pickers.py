"""Issue 22 item 7: an enterprise picks its region and industry from lists by name; the server takes only codes the
lists hold, and pages show the names."""

import re

from tests.financing.test_financing_pages import PRODUCT, registration
from tests.pages import in_chinese, post_form


def test_registration_offers_the_regions_by_city_and_the_industries_by_section(client):
    page = in_chinese(client, "/enterprise/register").text
    region = page.split('<select id="region_code"')[1].split("</select>")[0]
    assert region.count("<optgroup") == 11 and region.count("<option value=\"33") == 90
    assert re.search(r'<optgroup label="杭州市">\s*<option value="330102" >上城区</option>', region)
    assert '<option value="330383" >龙港市</option>' in region
    industry = page.split('<select id="industry_code"')[1].split("</select>")[0]
    assert industry.count("<optgroup") == 20 and '<optgroup label="C 制造业">' in industry
    assert '<option value="C38" >电气机械和器材制造业</option>' in industry
    assert 'id="region_code" name="region_code" inputmode' not in page  # no box to type a code into


def test_a_region_code_zhejiang_does_not_have_is_refused_on_its_field(client):
    api = client.post("/api/v1/enterprises/register", json={**registration(region_code="339999"), "employees": 96})
    assert api.status_code == 422 and list(api.json["errors"]) == ["region_code"]
    assert api.json["errors"]["region_code"] == [
        "339999 is not a district, county or county-level city of Zhejiang: choose the one where the enterprise is "
        "registered from the list."]
    city = client.post("/api/v1/enterprises/register", json={**registration(region_code="330100"), "employees": 96})
    assert city.status_code == 422 and list(city.json["errors"]) == ["region_code"]  # a city, not where it registers


def test_the_form_shows_the_refusal_beside_the_picker(client):
    response = post_form(client, "/enterprise/register", registration(region_code="339999"),
                         form_page="/enterprise/register")
    assert response.status_code == 422
    assert 'aria-invalid="true" aria-describedby="region_code-error"' in response.text
    assert 'id="region_code-error">339999 is not a district, county or county-level city of Zhejiang' in response.text


def test_an_unknown_industry_is_refused_and_a_finer_code_within_a_division_is_taken(client):
    for unknown in ("C99", "A38"):
        api = client.post("/api/v1/enterprises/register", json={**registration(industry_code=unknown),
                                                                "employees": 96})
        assert api.status_code == 422 and list(api.json["errors"]) == ["industry_code"]
        assert api.json["errors"]["industry_code"][0].startswith(f"{unknown} is not an industry of GB/T 4754-2017")
    taken = client.post("/api/v1/enterprises/register", json={**registration(industry_code="C38"), "employees": 96})
    assert taken.status_code == 201, taken.json


def test_a_picked_region_and_industry_register_and_stay_chosen_when_another_field_is_wrong(client):
    response = post_form(client, "/enterprise/register", registration(region_code="330383", industry_code="C39",
                                                                      employees="many"),
                         form_page="/enterprise/register")
    assert response.status_code == 422
    assert '<option value="330383" selected>' in response.text and '<option value="C39" selected>' in response.text


def test_the_bank_reads_the_applicants_region_and_industry_by_name(browser_of, world, as_role):
    product = as_role("bank").post("/api/v1/products", json=PRODUCT).json
    as_role("bank").post(f"/api/v1/products/{product['id']}/publish")
    created = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "1000000.00", "term_months": 12, "purpose": "Expansion"}).json
    application = as_role("enterprise").post(f"/api/v1/financing-requests/{created['id']}/select",
                                             json={"offer_id": created["offers"][0]["id"]}).json["application"]
    page = in_chinese(browser_of(world.bank_user), f"/bank/applications/{application['id']}").text
    assert '<span title="330106">杭州市西湖区</span>' in page  # the world's enterprises are in 330106, C3811
    assert '<span title="C3811">电气机械和器材制造业</span>' in page


def test_the_api_names_an_enterprises_region_and_industry_in_the_callers_language(world, as_role):
    path = f"/api/v1/enterprises/{world.enterprise.id}"
    chinese = as_role("enterprise").get(path, headers={"Accept-Language": "zh-CN"}).json
    assert chinese["region_code"] == "330106" and chinese["region_name"] == "杭州市西湖区"
    assert chinese["industry_code"] == "C3811" and chinese["industry_name"] == "电气机械和器材制造业"
    english = as_role("enterprise").get(path, headers={"Accept-Language": "en"}).json
    assert english["region_name"] == "Xihu District, Hangzhou"
    assert english["industry_name"] == "Manufacture of electrical machinery and apparatus"
