"""Loading the physical coefficients: unit, reference and confidence are mandatory."""

from pathlib import Path

import numpy as np
import pytest

from liangshan.accounting.coefficients import DEFAULT_PATH, load_coefficients
from liangshan.errors import InvalidInput, ParameterNotFound

HEADER = "parameter,ecosystem_code,value,unit,reference,confidence\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "coef.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_shipped_table_loads_with_tags() -> None:
    """Every shipped row has a unit, a reference and a tag; runoff α of evergreen broadleaf
    forest is 2.67 % [K] (GEP_METHOD §6.2) and comes back as a fraction on request."""
    table = load_coefficients()
    assert table.by_ecosystem("runoff_coefficient", [111], "1")[111] == pytest.approx(0.0267)
    assert table.by_ecosystem("runoff_coefficient", [111], "%")[111] == pytest.approx(2.67)
    assert any(r.startswith("[K]") for r in table.references("runoff_coefficient"))
    assert DEFAULT_PATH.name in table.source


def test_specific_row_overrides_star(tmp_path: Path) -> None:
    table = load_coefficients(write(tmp_path, "p,*,1,1,ref,[K]\np,151,0.5,1,ref,[V]\n"))
    assert table.by_ecosystem("p", [111, 151], "1") == {111: 1.0, 151: 0.5}
    lut = table.lut("p", [111, 151], "1")
    assert lut[111] == 1.0 and lut[151] == 0.5 and np.isnan(lut[112])
    assert table.scalar("p", "1") == 1.0


@pytest.mark.parametrize(("body", "match"), [
    ("p,*,1,,some ref,[K]\n", r"line 2 \('p'\): the unit is missing"),
    ("p,*,1,m,,[K]\n", r"line 2 \('p'\): the reference is missing"),
    ("p,*,1,m,ref,K\n", r"line 2 \('p'\): confidence 'K' is not a tag"),
    ("p,*,abc,m,ref,[K]\n", "is not a number"),
    ("p,forest,1,m,ref,[K]\n", "neither"),
])
def test_bad_rows_fail_loudly(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        load_coefficients(write(tmp_path, body))


def test_missing_column_and_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("parameter,value\np,1\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="missing column"):
        load_coefficients(bad)
    with pytest.raises(InvalidInput, match="does not exist"):
        load_coefficients(tmp_path / "nope.csv")


def test_unknown_parameter_and_unit(tmp_path: Path) -> None:
    table = load_coefficients(write(tmp_path, "p,*,1,m,ref,[K]\n"))
    with pytest.raises(ParameterNotFound, match="'q'"):
        table.scalar("q", "1")
    with pytest.raises(InvalidInput, match="stored in 'm'"):
        table.scalar("p", "kg")
