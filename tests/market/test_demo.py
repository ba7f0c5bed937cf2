"""The market demo seeds a consistent day of trading in every mode."""

from __future__ import annotations

import pytest

from liangshan.errors import Conflict
from liangshan.ledger import service as ledger
from liangshan.market import service
from liangshan.market.demo import seed_demo


@pytest.mark.slow
def test_seed_demo_trades_in_every_mode_and_stays_consistent(db_session):
    out = seed_demo(db_session, seed=42)
    db_session.commit()
    assert set(out["trades_by_mode"]) == {"listed", "continuous", "block", "auction", "fixed"}
    assert out["trades_by_mode"]["listed"] == 2 and out["trades_by_mode"]["auction"] == 2
    assert out["matches"] == 2 and out["event_listings"] == 2
    ccer = {(r["instrument"], r["region_code"]): r for r in out["report"]}[("CCER-AR", "520381")]
    assert ccer["issued"] == 150_000 and ccer["retired"] == 30_000
    assert ccer["active"] + ccer["retired"] + ccer["cancelled"] == ccer["issued"]
    assert service.serial_problems(db_session) == []
    assert ledger.verify_log(db_session) == []
    with pytest.raises(Conflict, match="already seeded"):
        seed_demo(db_session)
