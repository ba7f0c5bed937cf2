"""Splitting a multi-county account into the counties' own accounts."""

from __future__ import annotations

import pytest

from liangshan.accounting.run import run_gep
from liangshan.errors import InvalidInput
from tests.accounting import _small_case as sc


@pytest.fixture(scope="module")
def account():
    return run_gep(sc.tables(), 2022, "ndrc-2022", physical=sc.physical(2022))


def test_county_accounts_add_up_to_the_whole_to_the_fen(account):
    parts = [account.for_region(code) for code in account.regions]
    assert sum(p.gep_fen() for p in parts) == account.gep_fen()
    assert [p.regions for p in parts] == [[sc.R1], [sc.R2]]


def test_each_county_account_has_its_own_stable_id(account):
    first = account.for_region(sc.R1)
    assert first.id != account.id and first.id != account.for_region(sc.R2).id
    assert first.id == account.for_region(sc.R1).id
    assert first.manifest["region"] == sc.R1


def test_county_summary_carries_its_own_ratios(account):
    summary = account.for_region(sc.R1).summary()
    ratios = account.ratios().set_index("region_code")
    assert summary["gep_gdp_ratio"] == pytest.approx(ratios.loc[sc.R1, "gep_gdp_ratio"])
    assert summary["area_km2"] == pytest.approx(ratios.loc[sc.R1, "area_km2"])


def test_unknown_region_is_refused(account):
    with pytest.raises(InvalidInput, match="520999"):
        account.for_region("520999")
