"""The demo: every chain verifies, the recall reaches both parts, the brand report works."""

from __future__ import annotations

import pytest

from liangshan.errors import Conflict
from liangshan.trace import brands, public
from liangshan.trace.demo import seed_demo


def test_demo_chains_verify_and_show_recall_and_brand(db_session):
    s = db_session
    out = seed_demo(s, seed=7)
    s.commit()
    for name, code in out["batches"].items():
        view = public.public_view(s, code)
        assert view["verification"]["overall"] == "verified", (name, view["verification"])
    tianma = public.public_view(s, out["batches"]["dafang_tianma_recalled"])
    assert tianma["status"] == "recalled" and "SO₂" in tianma["recall"]["reason"]
    for code in out["recalled"]:
        assert public.public_view(s, code)["status"] == "recalled"
    tea = public.public_view(s, out["items"]["duyun_maojian"][0])
    steps = [e["biz_step"] for e in tea["events"]]
    assert steps[:3] == ["commissioning", "planting", "harvest"] and "processing" in steps
    assert tea["brand"]["name"] == "黔系列" and tea["item_serial"] == 1
    ball = public.public_view(s, out["batches"]["leishan_yinqiu"])
    assert "雷山县农户" not in repr(ball)  # the household sold leaf into it, unnamed
    assert ball["brand"]["licence"]["ok"] is True
    report = brands.brand_report(s, "qian-series")
    premium = {p["product_type"]: p for p in report["price_premium"]}
    assert premium["tea"]["premium_pct"] > 0
    with pytest.raises(Conflict, match="already seeded"):
        seed_demo(s)
