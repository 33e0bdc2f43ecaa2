"""The code lists people pick from instead of typing codes: Zhejiang's administrative divisions (GB/T 2260) and
the industry classification (GB/T 4754-2017, its 门类 sections and 大类 divisions), read once from data/."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from marketplace.i18n import in_reader_language

#: GB/T 2260 codes of the province (Zhejiang is 33): 2 digits for the province, 4 for a prefecture-level city.
PROVINCE = "33"


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    name_en: str | None = None

    @property
    def display_name(self) -> str:
        return in_reader_language(self.name, self.name_en)


@dataclass(frozen=True)
class Group:
    """A heading of a picker (a city, an industry section) and the codes under it."""

    heading: Code
    codes: tuple[Code, ...]


def _read(name: str) -> tuple[Code, ...]:
    with resources.files("marketplace.orgs").joinpath("data", name).open(encoding="utf-8", newline="") as file:
        return tuple(Code(row["code"], row["name"], row["name_en"] or None) for row in csv.DictReader(file))


# Regions (GB/T 2260) --------------------------------------------------------------------------------------------

@cache
def regions() -> dict[str, Code]:
    """Zhejiang's province, prefecture-level cities and counties (districts, county-level cities), by 6-digit code."""
    return {row.code: row for row in _read("regions.csv")}


def _is_city(code: str) -> bool:
    return code.endswith("00") and not code.endswith("0000")


@cache
def cities() -> tuple[Group, ...]:
    """The 11 prefecture-level cities, each with its districts, counties and county-level cities, in code order."""
    every = regions().values()
    return tuple(Group(city, tuple(r for r in every if r.code[:4] == city.code[:4] and r.code != city.code))
                 for city in every if _is_city(city.code))


def is_county(code: str) -> bool:
    """A county-level division of Zhejiang (where an enterprise is registered), not the province or a city."""
    return code in regions() and not code.endswith("00")


def is_prefix(prefix: str) -> bool:
    """A region a product or rule may be open to: the province (33), one of its cities (3301) or a county (330106)."""
    if len(prefix) == 2:
        return prefix == PROVINCE
    if len(prefix) == 4:
        return prefix.startswith(PROVINCE) and _is_city(prefix + "00") and prefix + "00" in regions()
    return is_county(prefix)


def region_name(code: str) -> str:
    """A code or prefix by name in the reader's language ("33" 浙江省, "3301" 杭州市, "330106" 西湖区); an unknown
    code as it is."""
    found = regions().get(code.ljust(6, "0")) if code.isdigit() and len(code) in (2, 4, 6) else None
    return found.display_name if found else code


@cache
def _prefixes_by_name() -> dict[str, str]:
    """Every name a spreadsheet may give a region, to its code or prefix: 浙江省 (浙江, 浙江全省) → 33, 杭州市 (杭州,
    杭州全市) → 3301, 西湖区 or 杭州市西湖区 → 330106, and the English names in lower case."""
    named: dict[str, str] = {}
    for row in regions().values():
        if row.code == PROVINCE + "0000":
            names, prefix = {row.name, row.name.removesuffix("省"), row.name.removesuffix("省") + "全省"}, PROVINCE
        elif _is_city(row.code):
            short = row.name.removesuffix("市")
            names, prefix = {row.name, short, short + "全市", row.name + "全市"}, row.code[:4]
        else:
            names, prefix = {row.name, regions()[row.code[:4] + "00"].name + row.name}, row.code
        named.update(dict.fromkeys(names | ({row.name_en.lower()} if row.name_en else set()), prefix))
    return named


def region_prefix_named(written: str) -> str | None:
    """The code or prefix a region's name (or its code) stands for; None for a name not in the list."""
    written = written.strip()
    if written.isdigit():
        return written
    return _prefixes_by_name().get(written) or _prefixes_by_name().get(written.lower())


def region_full_name(code: str) -> str:
    """A county with its city (杭州市西湖区, or "Xihu District, Hangzhou" in English); a city or the province alone."""
    if not is_county(code):
        return region_name(code)
    city, county = regions()[code[:4] + "00"], regions()[code]
    english = f"{county.name_en}, {city.name_en}" if county.name_en and city.name_en else None
    return in_reader_language(city.name + county.name, english)


# Industries (GB/T 4754-2017) ------------------------------------------------------------------------------------

@cache
def industries() -> dict[str, Code]:
    """Sections (one letter, A–T) and divisions (the section's letter and two digits, C38), by code."""
    return {row.code: row for row in _read("industries.csv")}


@cache
def sections() -> tuple[Group, ...]:
    """The 门类 sections, each with its 大类 divisions."""
    every = industries().values()
    return tuple(Group(section, tuple(i for i in every if len(i.code) == 3 and i.code[0] == section.code))
                 for section in every if len(section.code) == 1)


def division_of(code: str) -> Code | None:
    """The division an industry code (C38, or a finer group or class such as C3811) falls in, when it is a known
    division of that section."""
    return industries().get(code[:3]) if len(code) in (3, 4, 5) and code[1:].isdigit() else None


def industry_name(code: str) -> str:
    """An industry code by its division's name (C3811 → 电气机械和器材制造业); an unknown code as it is."""
    found = division_of(code)
    return found.display_name if found else code
