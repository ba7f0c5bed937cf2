"""English (pinyin) names of Guizhou, its prefectures and counties, and their use on pages.

Expected spellings follow the Hanyu Pinyin place-name convention (generic term
dropped, no tones, apostrophe before a syllable starting with a/o/e), e.g. the
English names used by the province's own English pages: Chishui, Jiangkou,
Dafang, Leishan, Duyun, Qiandongnan, Qiannan.
"""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from liangshan.datasets.boundaries import PILOT_COUNTIES, guizhou_county_codes
from liangshan.web import geo, names
from tests.web._web_seed import PILOTS

PILOTS_EN = {"520381": "Chishui", "520521": "Dafang", "520621": "Jiangkou",
             "522634": "Leishan", "522701": "Duyun"}


def _rows() -> list[dict[str, str]]:
    path = resources.files("liangshan.datasets") / "data" / names.NAMES_FILE
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_file_covers_guizhou_with_provenance():
    rows = _rows()
    levels = [r["level"] for r in rows]
    assert levels.count("province") == 1 and levels.count("prefecture") == 9
    counties = [r for r in rows if r["level"] == "county"]
    assert sorted(r["code"] for r in counties) == guizhou_county_codes()       # all 88
    assert len({r["name_en"] for r in counties}) == 88                         # no two alike
    assert all(r["confidence"] == "[K]" and "pypinyin" in r["source"] for r in rows)
    assert all(r["name_en"].isascii() and r["name_en"][0].isupper() for r in rows)


def test_the_file_is_what_the_generator_writes(tmp_path):
    pytest.importorskip("pypinyin")
    written = names.write_names_file(tmp_path / "names.csv")
    with written.open(encoding="utf-8") as f:
        assert list(csv.DictReader(f)) == _rows()


@pytest.mark.parametrize(("chinese", "english"), [
    ("赤水市", "Chishui"), ("江口县", "Jiangkou"), ("贵州省", "Guizhou"),
    ("六枝特区", "Liuzhi"), ("威宁彝族回族苗族自治县", "Weining"),
    ("黔东南苗族侗族自治州", "Qiandongnan"), ("黔西南布依族苗族自治州", "Qianxinan"),
    ("正安县", "Zheng'an"), ("瓮安县", "Weng'an"),          # apostrophe before a vowel syllable
    ("都匀市", "Duyun"), ("三都水族自治县", "Sandu"), ("长顺县", "Changshun"),  # polyphones
])
def test_english_name(chinese, english):
    pytest.importorskip("pypinyin")
    assert names.english_name(chinese)[0] == english


def test_place_names_by_code():
    for code, english in PILOTS_EN.items():
        assert names.place_name(code, "en") == english
        assert names.place_name(code, "zh") == PILOTS[code]
    assert names.place_name("52", "en") == "Guizhou"
    assert names.place_name("522700", "en") == "Qiannan"
    assert names.place_name("520381001", "en") == "Chishui"         # a township: its county
    assert names.place_name("110101", "en") == "110101"              # not in Guizhou
    assert geo.county_name("520381", "en") == "Chishui"
    assert geo.county_name("52") == "贵州省" and geo.county_name("52", "en") == "Guizhou"


def test_english_pages_show_pinyin_names(client, seeded):
    home = client.get("/?lang=en").text
    for code in PILOT_COUNTIES:
        assert PILOTS_EN[code] in home and PILOTS[code] not in home.split('id="pilots"')[1][:2000]
    rows = client.get("/web/api/map?year=2022&lang=en").json()["rows"]
    assert {r["name"] for r in rows} == set(PILOTS_EN.values())
    assert {r["name"] for r in client.get("/web/api/map?year=2022&lang=zh").json()["rows"]} == \
        set(PILOTS.values())
    assert "Chishui" in client.get(f"/web/accounts/{seeded['chishui_2022']}?lang=en").text
    assert "Chishui" in client.get("/web/accounts?lang=en").text
    drill = client.get("/web/county/520381?year=2022&lang=en").text
    assert "Chishui" in drill
    features = client.get("/web/api/geo/guizhou-counties.json").json()["features"]
    props = {f["properties"]["code"]: f["properties"] for f in features}
    assert props["520621"]["name_en"] == "Jiangkou"
    assert props["522634"]["prefecture_en"] == "Qiandongnan"
