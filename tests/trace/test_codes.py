"""Traceability codes: structure, ISO/IEC 7064 MOD 37-2 check character, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liangshan.errors import InvalidInput
from liangshan.trace import codes

BODY = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=30)


def test_mod37_2_published_example():
    """python-stdnum documents ``stdnum.iso7064.mod_37_2.calc_check_digit('G123489654321')``
    as ``'Y'`` (https://arthurdejong.org/python-stdnum/doc/1.20/stdnum.iso7064)."""
    assert codes.mod37_2_check("G123489654321") == "Y"
    assert codes.mod37_2_valid("G123489654321Y")
    assert not codes.mod37_2_valid("G123489654321Z")


def test_mod37_2_hand_computed():
    """Hand computation for body "A1": p = (0+10)·2 = 20; p = (20+1)·2 mod 37 = 5;
    check value (38 − 5) mod 37 = 33 → 'X'."""
    assert codes.mod37_2_check("A1") == "X"


@given(BODY, st.data())
def test_any_single_substitution_is_caught(body, data):
    code = body + codes.mod37_2_check(body)
    pos = data.draw(st.integers(0, len(code) - 1))
    new = data.draw(st.sampled_from(codes.ALPHABET[:36] if pos < len(code) - 1
                                    else codes.ALPHABET))
    if new == code[pos]:
        return
    assert not codes.mod37_2_valid(code[:pos] + new + code[pos + 1:])


@given(BODY, st.data())
def test_any_adjacent_transposition_is_caught(body, data):
    code = body + codes.mod37_2_check(body)
    pos = data.draw(st.integers(0, len(code) - 2))
    if code[pos] == code[pos + 1]:
        return
    swapped = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2:]
    assert not codes.mod37_2_valid(swapped)


def test_make_parse_round_trip_and_display():
    code = codes.make_code("522634", 40, "tea", 7, 12)
    assert len(code) == codes.LENGTH
    parsed = codes.parse_code(codes.display(code).lower())
    assert (parsed.region, parsed.producer, parsed.product) == ("522634", "0014", "101")
    assert parsed.serial_number == 12 and parsed.code == code
    assert parsed.batch_code == codes.make_code("522634", 40, "tea", 7, 0)
    assert codes.display(code).count("-") == 5


def test_wrong_check_character_is_refused_with_a_clear_message():
    code = codes.make_code("522701", 1, "tea", 1, 0)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(InvalidInput, match="wrong check character"):
        codes.parse_code(wrong)


@pytest.mark.parametrize("text,match", [("5227", "characters"),
                                        ("52270A" + "0" * 20, "form")])
def test_malformed_codes_are_refused(text, match):
    with pytest.raises(InvalidInput, match=match):
        codes.parse_code(text)


def test_base36_producer_segment_bounds():
    assert codes.to_base36(36 ** 4 - 1, 4) == "ZZZZ"
    with pytest.raises(InvalidInput):
        codes.to_base36(36 ** 4, 4)
