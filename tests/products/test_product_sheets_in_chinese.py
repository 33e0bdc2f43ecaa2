"""Product spreadsheets as a Chinese bank's office staff keep them: Chinese headers and values, rates as
percentages, row errors naming the column as the sheet does, and an exported sheet that imports again unchanged,
corrected rows changing their products instead of adding duplicates."""

import io

import openpyxl
from sqlalchemy import func, select

from marketplace import db
from products.models import Product, ProductStatus
from tests.pages import csrf_token, sign_in

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
HEADER = ("产品名称", "产品类型", "最低金额（元）", "最高金额（元）", "最短期限（月）", "最长期限（月）",
          "LPR加点（基点）", "适用企业类型", "适用地区", "担保要求", "产品说明", "英文名称")


def xlsx(*rows, header=HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read(content: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.values)


def upload(client, content, name="产品.xlsx", **query):
    return client.post("/api/v1/products/imports", query_string=query, headers=CHINESE,
                       data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def families(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(func.distinct(Product.family_id))))


def test_a_sheet_in_chinese_headers_and_values_imports(as_role, app):
    bank = as_role("bank")
    row = ("西湖科创贷", "信用贷", "500,000", 5000000, 6, 36, 25, "专精特新中小企业、专精特新“小巨人”企业",
           "浙江省，杭州市西湖区", "可选担保", "面向科创企业", "Xihu Tech Loan")
    answer = upload(bank, xlsx(row), publish="true")
    assert answer.status_code == 200 and answer.json["rows_ok"] == 1, answer.json
    product = bank.get(f"/api/v1/products/{answer.json['product_ids'][0]}").json
    assert (product["name"], product["name_en"], product["product_type"], product["amount_min"]) == (
        "西湖科创贷", "Xihu Tech Loan", "credit", "500000.00")
    assert sorted(product["eligible_tiers"]) == ["little_giant", "srdi"]
    assert product["eligible_regions"] == ["33", "330106"] and product["guarantee"] == "optional"


def test_regions_are_read_by_name_or_by_code_and_an_unknown_name_is_a_row_error(as_role):
    bank = as_role("bank")
    old_header = tuple("适用地区代码" if h == "适用地区" else h for h in HEADER)
    by_code = upload(bank, xlsx(("按代码", "信用贷", 500000, 5000000, 6, 36, 25, "专精特新中小企业", "3301、330106",
                                 "", "", ""), header=old_header))
    assert by_code.status_code == 200 and by_code.json["rows_ok"] == 1, by_code.json
    assert sorted(bank.get(f"/api/v1/products/{by_code.json['product_ids'][0]}").json["eligible_regions"]) == [
        "3301", "330106"]
    by_name = upload(bank, xlsx(("按简称", "信用贷", 500000, 5000000, 6, 36, 25, "专精特新中小企业", "宁波、西湖区",
                                 "", "", ""), ("地名不明", "信用贷", 500000, 5000000, 6, 36, 25, "专精特新中小企业",
                                               "火星市", "", "", "")))
    assert by_name.json["rows_ok"] == 1 and by_name.json["rows_failed"] == 1, by_name.json
    assert sorted(bank.get(f"/api/v1/products/{by_name.json['product_ids'][0]}").json["eligible_regions"]) == [
        "330106", "3302"]
    assert by_name.json["errors"][0]["message"].startswith("适用地区：")


def test_row_errors_name_the_columns_as_the_sheet_writes_them(as_role):
    answer = upload(as_role("bank"), xlsx(
        ("利差过高", "信用贷", 500000, 5000000, 6, 36, 3000, "专精特新中小企业", "", "", "", ""),
        ("等级不明", "信用贷", "五十万", 5000000, 6, 36, 25, "白金企业", "", "", "", "")))
    assert answer.status_code == 200 and answer.json["rows_failed"] == 2
    spread, tiers = (e["message"] for e in answer.json["errors"])
    assert spread.startswith("LPR加点（基点）：")
    assert "最低金额（元）：" in tiers and "适用企业类型：" in tiers
    assert "专精特新中小企业" in tiers and "little_giant" not in tiers
    assert "amount_min" not in tiers and "eligible_tiers" not in tiers


def test_the_template_is_in_chinese_with_its_example_row_marked(as_role):
    template = as_role("bank").get("/api/v1/products/import-template", headers=CHINESE)
    header, example = read(template.data)
    assert header[:8] == HEADER[:8]
    assert example[0].startswith("【示例】") and example[1] == "信用贷" and example[9] == "无需担保"


def test_an_export_in_chinese_imports_again_unchanged_and_a_corrected_row_makes_no_duplicate(app, world, as_role):
    bank = as_role("bank")
    for name in ("科创信用贷", "园区贷"):
        made = bank.post("/api/v1/products", json={
            "name": name, "product_type": "credit", "amount_min": "500000.00", "amount_max": "5000000.00",
            "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30, "eligible_tiers": ["srdi"],
            "eligible_regions": ["3301"], "guarantee": "optional"})
        assert made.status_code == 201, made.json
        assert bank.post(f"/api/v1/products/{made.json['id']}/publish").status_code == 200
    client = sign_in(app, world.bank_user)
    client.post("/language", data={"locale": "zh_Hans", "next": "/bank/products",
                                   "csrf_token": csrf_token(client.get("/bank/products").text)})
    exported = client.get("/bank/products/export.xlsx")
    rows = read(exported.data)
    header = rows[0]
    assert header[:4] == ("产品编号", "银行编号", "银行", "产品名称")
    named = {row[header.index("产品名称")]: row for row in rows[1:]}
    row = named["科创信用贷"]
    assert row[header.index("产品类型")] == "信用贷" and row[header.index("适用企业类型")] == "专精特新中小企业"
    assert row[header.index("担保要求")] == "可选担保" and row[header.index("状态")] == "已发布"
    assert row[header.index("适用地区")] == "杭州市"
    assert row[header.index("参考年利率")].endswith("%")
    before = families(app)

    again = upload(bank, exported.data)
    assert again.status_code == 200, again.json
    assert (again.json["rows_total"], again.json["rows_ok"], again.json["rows_failed"]) == (len(rows) - 1,) * 2 + (0,)
    assert families(app) == before
    page = client.post("/bank/products/import", data={
        "file": (io.BytesIO(exported.data), "导出.xlsx"),
        "csrf_token": csrf_token(client.get("/bank/products/import").text)},
        content_type="multipart/form-data")
    assert f'data-figure="unchanged">{len(rows) - 1}<' in page.text and 'data-figure="created">0<' in page.text

    corrected = [list(r) for r in rows]
    target = next(r for r in corrected[1:] if r[header.index("产品名称")] == "科创信用贷")
    target[header.index("最高金额（元）")] = 8000000
    book = openpyxl.Workbook()
    for r in corrected:
        book.active.append(r)
    out = io.BytesIO()
    book.save(out)
    fixed = upload(bank, out.getvalue())
    assert fixed.status_code == 200 and fixed.json["rows_failed"] == 0, fixed.json
    assert families(app) == before
    with app.app_context():
        versions = db.session.scalars(select(Product).where(Product.name == "科创信用贷")
                                      .order_by(Product.version)).all()
        assert [(p.version, p.status, str(p.amount_max)) for p in versions] == [
            (1, ProductStatus.PUBLISHED, "5000000.00"), (2, ProductStatus.DRAFT, "8000000.00")]
