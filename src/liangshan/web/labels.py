"""Display names of indicators, service classes and ecosystem types, in both languages.

Indicator names come from the accounting engine's data file
``liangshan/accounting/params/indicators.csv`` (columns ``indicator``,
``level2_zh``, ``name_zh``, ``order``) and ecosystem types from
``ecosystem_types.csv`` (``level1_code``, ``level1_zh``, ``level1_en``). When a
file or a code is missing the code itself is shown — visible, never blank.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from liangshan.web.i18n import translate

SERVICE_CLASSES = ("provisioning", "regulating", "cultural")

#: Level-1 ecosystem columns of the official tables (GEP_METHOD §5.2), then 其他.
TABLE_ECOSYSTEMS = (11, 12, 13, 14, 15, 16)


@dataclass(frozen=True)
class IndicatorLabel:
    code: str
    level2_zh: str
    name_zh: str
    order: int


def _read_params_csv(name: str) -> list[dict[str, str]]:
    try:
        path = resources.files("liangshan.accounting.params") / name
        with path.open(encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, ImportError):  # the engine's data files have not landed: show codes
        return []


@lru_cache(maxsize=1)
def _indicators() -> dict[str, IndicatorLabel]:
    out = {}
    for row in _read_params_csv("indicators.csv"):
        try:
            order = int(row.get("order") or 999)
        except ValueError:
            order = 999
        out[row["indicator"]] = IndicatorLabel(row["indicator"], row.get("level2_zh") or "",
                                               row.get("name_zh") or "", order)
    return out


@lru_cache(maxsize=1)
def _ecosystems() -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    for row in _read_params_csv("ecosystem_types.csv"):
        try:
            out[int(row["level1_code"])] = (row["level1_zh"], row["level1_en"])
        except (KeyError, ValueError):
            continue
    return out


#: English display names of the national indicator list (GEP_METHOD §3.1); others: the code.
ENGLISH_NAMES = {
    "material_agriculture": "Agricultural products", "material_forestry": "Forestry products",
    "material_livestock": "Livestock products", "material_fishery": "Fishery products",
    "material_other": "Other material products", "water_supply": "Water supply",
    "hydropower": "Hydropower", "water_conservation": "Water conservation",
    "soil_retention": "Soil retention", "sediment_avoided": "Soil retention (sediment avoided)",
    "nitrogen_retained": "Soil retention (nitrogen retained)",
    "phosphorus_retained": "Soil retention (phosphorus retained)",
    "sand_fixation": "Sand fixation", "flood_regulation": "Flood regulation",
    "air_purification_so2": "Air purification (SO₂)",
    "air_purification_nox": "Air purification (NOx)",
    "air_purification_pm": "Air purification (particulates)",
    "water_purification_cod": "Water purification (COD)",
    "water_purification_nh3n": "Water purification (NH₃-N)",
    "water_purification_tn": "Water purification (TN)",
    "water_purification_tp": "Water purification (TP)",
    "carbon_sequestration": "Carbon sequestration", "oxygen_release": "Oxygen release",
    "climate_regulation_transpiration": "Climate regulation (transpiration)",
    "climate_regulation_evaporation": "Climate regulation (evaporation)",
    "pest_control": "Pest control", "recreation": "Recreation and tourism",
    "landscape_premium": "Landscape premium",
}


def _english(code: str) -> str:
    return ENGLISH_NAMES.get(code, code.replace("_", " "))


def indicator_label(code: str, lang: str) -> str:
    """Second-level indicator name (二级指标), e.g. 土壤保持; English: the code in words."""
    label = _indicators().get(code)
    if lang == "zh" and label is not None:
        return label.level2_zh or label.name_zh or code
    return _english(code)


def indicator_item(code: str, lang: str) -> str:
    """The indicator's own item name (e.g. 减少泥沙淤积量), used as a table row label."""
    label = _indicators().get(code)
    if lang == "zh" and label is not None:
        return label.name_zh or label.level2_zh or code
    return _english(code)


def value_label(code: str, lang: str) -> str:
    """Name of an indicator's value in charts: its 二级指标, with the item when the 二级指标
    has several valued items (土壤保持（减少泥沙淤积量）)."""
    label = _indicators().get(code)
    if lang != "zh" or label is None:
        return _english(code)
    siblings = sum(1 for other in _indicators().values() if other.level2_zh == label.level2_zh)
    if siblings > 1 and label.name_zh and label.name_zh != label.level2_zh:
        return f"{label.level2_zh}（{label.name_zh}）"
    return label.level2_zh or label.name_zh or code


def indicator_order(code: str) -> int:
    """Position in the national indicator list (unknown indicators last)."""
    label = _indicators().get(code)
    return label.order if label is not None else 999


def class_label(service_class: str, lang: str) -> str:
    return translate(lang, f"class.{service_class}") if service_class in SERVICE_CLASSES \
        else service_class


def ecosystem_level1(code: int | None) -> int | None:
    """Level-1 ecosystem code of a level-3 code (``111`` → ``11``); None stays None."""
    return None if code is None else int(code) // 10


def ecosystem_label(level1: int | None, lang: str) -> str:
    if level1 is None:
        return translate(lang, "eco.unclassified")
    names = _ecosystems().get(level1)
    if names is None:
        return str(level1)
    return names[0] if lang == "zh" else names[1]


def table_column(level1: int | None) -> str:
    """The official-table column a level-1 code falls in: '11'…'16', 'other' or 'none'."""
    if level1 is None:
        return "none"
    return str(level1) if level1 in TABLE_ECOSYSTEMS else "other"
