"""Profiles as data: every default has a unit and a reference, extends works, GB/T warns."""

from __future__ import annotations

import warnings

import pytest

from liangshan.accounting.params import read_indicators, read_prices
from liangshan.accounting.profiles import (
    SHIPPED,
    SPECIAL_PRICES,
    ProfileWarning,
    load_profile,
)
from liangshan.errors import InvalidInput, NotFound


def _load(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        return load_profile(name)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_default_has_unit_reference_and_a_known_price(name):
    prof = _load(name)
    prices = read_prices()
    reg = read_indicators()
    for key, entry in prof.settings_meta.items():
        assert str(entry["unit"]).strip(), key
        assert len(str(entry["reference"])) > 5, key
        assert str(entry["confidence"]).startswith("["), key
    for ind, entry in prof.indicators.items():
        assert ind in reg.index, ind
        assert len(entry["reference"]) > 5 and entry["confidence"].startswith("[")
        specs = entry["price"].values() if isinstance(entry["price"], dict) else [entry["price"]]
        for pid in specs:
            if pid in SPECIAL_PRICES or pid.endswith(".local"):
                continue
            ids = ([pid.format(year=y) for y in range(2015, 2030)] if "{year}" in pid
                   else [pid])
            rows = prices[prices["price_id"].isin(ids)]
            assert len(rows), f"{name}: {ind} price {pid} not in prices.csv"
            for _, r in rows.iterrows():
                assert r["unit"] == reg.loc[ind, "price_unit"], (name, ind, pid)
                assert r["reference"]


def test_gbt_profile_warns_and_says_unconfirmed():
    with pytest.warns(ProfileWarning, match="NOT confirmed"):
        prof = load_profile("gbt-46869-2025")
    assert prof.chain == ["ndrc-2022"]
    assert "UNCONFIRMED" in prof.meta["status"]
    assert prof.setting("origin_rule") is True
    assert set(prof.indicators) == set(load_profile("ndrc-2022").indicators)


def test_ndrc_drops_oxygen_and_ouyang_keeps_it():
    assert "oxygen_release" not in load_profile("ndrc-2022").included
    assert "oxygen_release" in load_profile("ouyang-research").included


def test_local_profile_extends_a_shipped_one(tmp_path):
    p = tmp_path / "chishui.toml"
    p.write_text('''
[profile]
id = "chishui-local"
extends = "ndrc-2022"
name = "Chishui local"
document = "local decision"
confidence = "[Hyp]"
status = "test"

[settings]
nature_tourism_share = { value = 0.4, unit = "1", reference = "local survey", confidence = "[Hyp]" }

[indicators.oxygen_release]
include = true
price = "oxygen_price.lyt1721_2007"
method = "industrial oxygen price"
reference = "local choice"
confidence = "[Hyp]"
''', encoding="utf-8")
    prof = load_profile(p)
    assert prof.id == "chishui-local" and prof.chain == ["ndrc-2022"]
    assert prof.setting("nature_tourism_share") == 0.4
    assert prof.setting("material_value_basis") == "gross_output"  # inherited
    assert "oxygen_release" in prof.included
    assert prof.content_hash != load_profile("ndrc-2022").content_hash


def test_bad_profiles(tmp_path):
    with pytest.raises(NotFound, match="not found"):
        load_profile("no-such-profile")
    p = tmp_path / "bad.toml"
    p.write_text('[profile]\nid = "x"\nextends = "ndrc-2022"\nname = "x"\ndocument = "x"\n'
                 'confidence = "[K]"\nstatus = "x"\n[settings]\norigin_rule = { value = true }\n')
    with pytest.raises(InvalidInput, match="origin_rule"):
        load_profile(p)
    p.write_text('[profile]\nid = "x"\nextends = "ndrc-2022"\nname = "x"\ndocument = "x"\n'
                 'confidence = "[K]"\nstatus = "x"\n[settings]\nrecreation_method = '
                 '{ value = "guess", unit = "-", reference = "r", confidence = "[K]" }\n')
    with pytest.raises(InvalidInput, match="expected one of"):
        load_profile(p)
    p.write_text('[profile]\nid = "x"\nname = "x"\ndocument = "x"\nconfidence = "[K]"\n'
                 'status = "x"\n')
    with pytest.raises(InvalidInput, match="missing setting"):
        load_profile(p)
