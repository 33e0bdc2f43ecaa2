"""The code lists behind the region and industry pickers: Zhejiang's divisions (GB/T 2260) and GB/T 4754-2017."""

from marketplace.orgs import codes


def test_zhejiang_has_eleven_cities_and_ninety_counties():
    cities = codes.cities()
    assert [city.heading.name for city in cities] == [
        "杭州市", "宁波市", "温州市", "嘉兴市", "湖州市", "绍兴市", "金华市", "衢州市", "舟山市", "台州市", "丽水市"]
    assert sum(len(city.codes) for city in cities) == 90
    assert codes.regions()["330000"].name == "浙江省"


def test_hangzhou_has_its_districts_since_the_2021_reorganisation():
    hangzhou = next(city for city in codes.cities() if city.heading.code == "330100")
    assert {r.code: r.name for r in hangzhou.codes} == {
        "330102": "上城区", "330105": "拱墅区", "330106": "西湖区", "330108": "滨江区", "330109": "萧山区",
        "330110": "余杭区", "330111": "富阳区", "330112": "临安区", "330113": "临平区", "330114": "钱塘区",
        "330122": "桐庐县", "330127": "淳安县", "330182": "建德市"}
    assert "330103" not in codes.regions() and "330104" not in codes.regions()  # 下城区, 江干区: merged in 2021


def test_some_known_divisions_elsewhere():
    regions = codes.regions()
    assert regions["330383"].name == "龙港市" and regions["331083"].name == "玉环市"
    assert regions["330213"].name == "奉化区" and regions["331127"].name == "景宁畲族自治县"


def test_an_enterprise_is_registered_in_a_county_not_a_city_or_outside_zhejiang():
    assert codes.is_county("330106")
    assert not codes.is_county("330100") and not codes.is_county("330000")
    assert not codes.is_county("110105") and not codes.is_county("339999")


def test_a_region_prefix_reads_as_its_name_and_an_unknown_code_as_itself(app):
    with app.test_request_context("/api/v1/products", headers={"Accept-Language": "zh-CN"}):
        assert codes.region_name("33") == "浙江省" and codes.region_name("3301") == "杭州市"
        assert codes.region_name("330106") == "西湖区" and codes.region_name("339999") == "339999"
        assert codes.region_full_name("330106") == "杭州市西湖区"
    with app.test_request_context("/api/v1/products", headers={"Accept-Language": "en"}):
        assert codes.region_full_name("330106") == "Xihu District, Hangzhou"


def test_industries_have_twenty_sections_and_ninety_seven_divisions():
    sections = codes.sections()
    assert [s.heading.code for s in sections] == list("ABCDEFGHIJKLMNOPQRST")
    assert sum(len(s.codes) for s in sections) == 97
    manufacturing = next(s for s in sections if s.heading.code == "C")
    assert manufacturing.heading.name == "制造业" and len(manufacturing.codes) == 31


def test_an_industry_code_falls_in_a_division_of_its_own_section():
    assert codes.division_of("C3811").name == "电气机械和器材制造业"
    assert codes.division_of("I65").name == "软件和信息技术服务业"
    assert codes.division_of("A38") is None and codes.division_of("C99") is None and codes.division_of("C") is None
