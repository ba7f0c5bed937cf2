"""Census, catalogue and change list on both databases."""

from __future__ import annotations

from datetime import date

import openpyxl
import pandas as pd
import pytest
from shapely.geometry import box

from liangshan.catalog import catalogue, service
from liangshan.catalog.schemas import CensusIn, ProductIn
from liangshan.errors import Conflict, InvalidInput, NotFound
from liangshan.identity.access import SYSTEM
from liangshan.registry import service as registry
from liangshan.registry.schemas import ParcelIn


def _product(**kw):
    base = {"region_code": "520381101", "product_type": "material_agriculture", "name": "茶叶",
            "quantity": 120.0, "unit": "t", "quality_grade": "绿色食品",
            "department": "赤水市农业农村局", "survey_date": date(2024, 5, 1),
            "survey_method": "统计报表"}
    return ProductIn(**{**base, **kw})


def test_product_checks(db_session):
    census = service.open_census(db_session, SYSTEM, CensusIn(region_code="520381", year=2024,
                                                              title="赤水市 2024 普查"))
    with pytest.raises(Conflict, match="already exists"):
        service.open_census(db_session, SYSTEM, CensusIn(region_code="520381", year=2024,
                                                         title="again"))
    with pytest.raises(InvalidInput, match="unit 'm3' is not a unit of material_agriculture"):
        service.add_product(db_session, SYSTEM, census.id, _product(unit="m3"))
    with pytest.raises(InvalidInput, match="unknown product type"):
        service.add_product(db_session, SYSTEM, census.id, _product(product_type="gold"))
    with pytest.raises(InvalidInput, match="not inside census county"):
        service.add_product(db_session, SYSTEM, census.id, _product(region_code="520521"))
    with pytest.raises(NotFound, match="parcel 520381X does not exist"):
        service.add_product(db_session, SYSTEM, census.id, _product(parcel_code="520381X"))
    with pytest.raises(NotFound, match="account"):
        service.add_product(db_session, SYSTEM, census.id, _product(account_id="f" * 64,
                                                                    account_indicator="x"))


def test_parcel_link_shows_in_one_identity_view(db_session):
    parcel = registry.register_parcel(db_session, SYSTEM, ParcelIn(
        region_code="520381101", resource_type="forest", ownership="collective",
        owner_name="丙安村", geometry=box(0, 0, 100, 200)))
    census = service.open_census(db_session, SYSTEM, CensusIn(region_code="520381", year=2024,
                                                              title="t"))
    row = service.add_product(db_session, SYSTEM, census.id, _product(
        product_type="material_forestry", name="竹材", quantity=30, unit="m3",
        parcel_code=parcel.code))
    db_session.commit()
    assert row.area_m2 == pytest.approx(20_000) and row.service_class == "provisioning"
    view = registry.parcel_view(db_session, parcel.code)
    assert [r["name"] for r in view.census_records] == ["竹材"]


def test_catalogue_change_list_and_exports(db_session, tmp_path):
    old = service.open_census(db_session, SYSTEM, CensusIn(region_code="520381", year=2023,
                                                           title="2023"))
    for p in (_product(quantity=100), _product(name="竹笋", product_type="material_forestry",
                                                quantity=5, unit="t"),
              _product(name="天然林", product_type="water_conservation", quantity=2e8,
                       unit="m3/yr", quality_grade=None, survey_method="InVEST")):
        service.add_product(db_session, SYSTEM, old.id, p)
    new = service.open_census(db_session, SYSTEM, CensusIn(region_code="520381", year=2024,
                                                           title="2024"))
    service.add_product(db_session, SYSTEM, new.id, _product(quantity=70))
    service.add_product(db_session, SYSTEM, new.id, _product(quantity=60, region_code="520381101",
                                                             quality_grade="有机"))
    service.add_product(db_session, SYSTEM, new.id, _product(
        name="天然林", product_type="water_conservation", quantity=2e8, unit="m3/yr",
        quality_grade=None, survey_method="InVEST"))
    service.add_product(db_session, SYSTEM, new.id, _product(name="游客", product_type="recreation",
                                                             quantity=1.2e6, unit="visits/yr"))
    db_session.commit()
    cat = catalogue.build_catalogue(db_session, "520381")
    tea = cat[cat["name"] == "茶叶"].iloc[0]
    assert tea["quantity"] == 130 and tea["records"] == 2 and tea["census_year"] == 2024
    assert tea["quality_grades"] == "有机; 绿色食品" and tea["level2_zh"] == "农业产品"
    changes = catalogue.change_list(db_session, new.id).set_index("name")
    assert changes.loc["茶叶", "change"] == "changed" and changes.loc["茶叶", "delta"] == 30
    assert changes.loc["竹笋", "change"] == "removed" and changes.loc["游客", "change"] == "added"
    assert changes.loc["天然林", "change"] == "unchanged"
    province = catalogue.build_catalogue(db_session, "52", year=2023)
    assert set(province["census_year"]) == {2023} and len(province) == 3

    xlsx = catalogue.export_table(cat, tmp_path / "目录清单.xlsx")
    sheet = openpyxl.load_workbook(xlsx)["目录清单"]
    header = [c.value for c in sheet[1]]
    assert "产品名称" in header and sheet.max_row == len(cat) + 1
    csv = catalogue.export_table(changes.reset_index(), tmp_path / "changes.csv",
                                 chinese_headings=False)
    assert len(pd.read_csv(csv, encoding="utf-8-sig")) == 4
    with pytest.raises(InvalidInput, match=r"use \.xlsx or \.csv"):
        catalogue.export_table(cat, tmp_path / "x.pdf")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".catalogue-")] == []


def test_bulk_products_from_xlsx_report_each_bad_row(db_session, tmp_path):
    census = service.open_census(db_session, SYSTEM, CensusIn(region_code="520381", year=2024,
                                                              title="t"))
    from liangshan.catalog import census_io

    rows = pd.DataFrame([
        {"行政区代码": "520381", "指标代码": "material_agriculture", "产品名称": "茶叶",
         "数量": "12.5", "计量单位": "t", "责任部门": "农业农村局", "调查日期": "2024-05-01",
         "调查方法": "统计"},
        {"行政区代码": "520381", "指标代码": "material_agriculture", "产品名称": "茶叶",
         "数量": "abc", "计量单位": "t", "责任部门": "农业农村局", "调查日期": "2024-05-01",
         "调查方法": "统计"},
        {"行政区代码": "520381", "指标代码": "material_agriculture", "产品名称": "茶叶",
         "数量": "3", "计量单位": "head", "责任部门": "农业农村局", "调查日期": "2024-05-01",
         "调查方法": "统计"},
    ])
    path = tmp_path / "census.xlsx"
    rows.to_excel(path, index=False)
    refused = census_io.import_products(db_session, SYSTEM, census.id, path)
    assert set(refused) == {3, 4} and "quantity" in refused[3] and "unit 'head'" in refused[4]
    assert [p.quantity for p in service.products(db_session, census.id)] == [12.5]
    with pytest.raises(InvalidInput, match="missing column"):
        census_io.import_products(db_session, SYSTEM, census.id,
                                  _write(tmp_path / "x.csv", "name,quantity\na,1\n"))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path
