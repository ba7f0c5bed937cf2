"""Number formats and interface strings (Chinese conventions: 元, 万元, 亿元; units shown)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from liangshan.web.i18n import STRINGS, fen_to_wan, format_money, format_time, translate


@pytest.mark.parametrize(("fen", "zh"), [
    (123_456, "1,234.56 元"),              # 1,234.56 yuan: below 1 万
    (999_999, "9,999.99 元"),
    (1_000_000, "1.00 万元"),               # exactly 10^4 yuan
    (123_456_789, "123.46 万元"),           # 1,234,567.89 yuan
    (1_225_000, "1.23 万元"),               # 1.225 万元: half-up (banker's would give 1.22)
    (-2_000_000, "-2.00 万元"),
    (10_000_000_000, "1.00 亿元"),          # 10^8 yuan
    (33_585_552_000, "3.36 亿元"),          # 335,855,520 yuan
    (12_345_678_900_000, "1,234.57 亿元"),  # 123,456,789,000 yuan
])
def test_money_in_chinese_units(fen, zh):
    assert format_money(fen, "zh") == zh


@pytest.mark.parametrize(("fen", "en"), [
    (123_456, "CNY 1,234.56"),
    (345_670_000, "CNY 3.46 million"),        # 3,456,700 yuan
    (100_000_000_000, "CNY 1.00 billion"),    # 10^9 yuan
])
def test_money_in_english(fen, en):
    assert format_money(fen, "en") == en


def test_missing_money_is_a_dash_not_zero():
    assert format_money(None, "zh") == "—"
    assert fen_to_wan(None) == "—"


def test_wan_text_is_exact_decimal():
    # 205,319,520,000 fen = 2,053,195,200 yuan = 205,319.52 万元
    assert fen_to_wan(205_319_520_000) == "205,319.52"
    assert fen_to_wan(205_319_520_000, group=False) == "205319.52"


def test_time_is_shown_in_beijing_time():
    assert format_time(datetime(2024, 12, 31, 17, 30, tzinfo=UTC)) == "2025-01-01 01:30 (UTC+8)"


def test_every_string_has_both_languages():
    for key, (zh, en) in STRINGS.items():
        assert zh and en, key
    assert translate("zh", "nav.map") == "一张图" and translate("en", "nav.map") == "One map"
    assert translate("zh", "no.such.key") == "no.such.key"
