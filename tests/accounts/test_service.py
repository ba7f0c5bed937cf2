"""Stored accounts on both databases: storing, idempotency, immutability, comparison."""

from __future__ import annotations

import pandas as pd
import pytest

from liangshan.accounts import service
from liangshan.accounts.schemas import AccountIn
from liangshan.errors import Forbidden, InvalidInput
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn


def _account(account_id="a" * 64, year=2022, values=(120_000_00, 35_000_00, 2_000_00)):
    lines = pd.DataFrame({
        "region_code": ["520381"] * 3,
        "service_class": ["provisioning", "regulating", "cultural"],
        "indicator": ["agricultural_products", "water_conservation", "recreation"],
        "ecosystem_code": [None, 111, None],
        "quantity": [1.5, 2.0e8, 3.0e6],
        "unit": ["t", "m3/yr", "person-times"],
        "price": [None, "6.1107", "91.5"],
        "value_fen": list(values),
    })
    return AccountIn(id=account_id, title="赤水市 GEP", region_code="520381", year=year,
                     profile="ndrc-2022", lines=lines, manifest={"inputs": {"x": "sha"}},
                     sample_data=True)


def test_store_sums_fen_exactly_and_is_idempotent(db_session):
    row = service.store(db_session, SYSTEM, _account())
    db_session.commit()
    assert row.gep_fen == 157_000_00 and service.fen_to_yuan(row.gep_fen) == "157000.00"
    again = service.store(db_session, SYSTEM, _account())
    assert again.id == row.id
    stored = service.lines(db_session, row.id)
    assert len(stored) == 3 and sum(line.value_fen for line in stored) == row.gep_fen
    assert stored[1].price == "6.1107" and stored[1].ecosystem_code == 111


def test_fractional_fen_refused(db_session):
    bad = _account(values=(1.5, 2, 3))
    with pytest.raises(InvalidInput, match="whole fen"):
        service.store(db_session, SYSTEM, bad)


def test_missing_column_refused(db_session):
    bad = _account()
    bad.lines = bad.lines.drop(columns=["service_class"])
    with pytest.raises(InvalidInput, match="service_class"):
        service.store(db_session, SYSTEM, bad)


def test_other_county_operator_cannot_store(db_session):
    user = identity.create_user(db_session, SYSTEM, UserIn(
        username="dafang", display_name="大方", password="correct horse battery",
        role=Role.COUNTY_OPERATOR, region_code="520521"))
    with pytest.raises(Forbidden):
        service.store(db_session, identity.principal_of(user), _account())


def test_compare_gives_each_indicator_share_of_the_change(db_session):
    service.store(db_session, SYSTEM, _account("a" * 64, 2022, (100, 200, 300)))
    service.store(db_session, SYSTEM, _account("b" * 64, 2023, (100, 260, 340)))
    rows = {r.indicator: r for r in service.compare(db_session, "a" * 64, "b" * 64)}
    assert rows["water_conservation"].change_fen == 60
    assert rows["recreation"].share_of_change == pytest.approx(0.4)
    assert rows["agricultural_products"].change_fen == 0


def test_publish_logs_the_manifest_and_freezes_the_account(db_session):
    from liangshan.errors import Conflict
    from liangshan.ledger import service as ledger

    row = service.store(db_session, SYSTEM, _account())
    published = service.publish(db_session, SYSTEM, row.id)
    db_session.commit()
    assert published.status == "published" and published.log_index == 0
    leaf = ledger.get_leaf(db_session, published.log_index)
    assert leaf.leaf_hash.hex() == published.log_leaf_hash
    assert service.manifest_hash(row.manifest).encode() in bytes(leaf.payload)
    with pytest.raises(Conflict, match="already published"):
        service.publish(db_session, SYSTEM, row.id)
    assert ledger.verify_log(db_session) == []


def test_a_new_account_for_the_same_county_and_year_supersedes_the_published_one(db_session):
    first = service.store_revision(db_session, SYSTEM, _account("a" * 64))
    service.publish(db_session, SYSTEM, first.id)
    second = service.store_revision(db_session, SYSTEM, _account("b" * 64, values=(1, 2, 3)))
    assert second.supersedes_id == first.id
    # until the correction is published, the first stays current
    assert [r.id for r in service.list_accounts(db_session, current_only=True,
                                                published_only=True)] == [first.id]
    service.publish(db_session, SYSTEM, second.id)
    db_session.commit()
    assert [r.id for r in service.list_accounts(db_session, current_only=True)] == [second.id]
    assert service.current_published(db_session, region_code="520381", year=2022, kind="GEP",
                                     profile="ndrc-2022").id == second.id
    # storing the same account again changes nothing
    assert service.store_revision(db_session, SYSTEM, _account("b" * 64, values=(1, 2, 3))).id \
        == second.id
