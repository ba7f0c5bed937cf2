"""Label sheets: one QR per code, A4 pages, the QR holds the public URL."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
import qrcode
from PIL import Image

from liangshan.errors import InvalidInput
from liangshan.trace import codes, labels

CODES = [codes.make_code("522701", 7, "tea", 3, s) for s in range(1, 31)]


def test_svg_pages_hold_one_qr_per_code():
    pages = labels.label_sheet_svg(CODES, "https://trace.example.org", "都匀毛尖")
    assert len(pages) == 2  # 30 labels, 24 per page
    first = ET.fromstring(pages[0])
    ns = "{http://www.w3.org/2000/svg}"
    assert first.get("width") == "210.0mm"
    assert len(first.findall(f"{ns}path")) == 24
    assert codes.display(CODES[0]) in pages[0] and "都匀毛尖" in pages[0]


def test_qr_matrix_is_the_url_encoded_by_qrcode():
    url = labels.code_url("https://trace.example.org/", CODES[0])
    assert url == f"https://trace.example.org/t/{CODES[0]}"
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(url)
    qr.make(fit=True)
    assert labels.qr_matrix(url) == qr.get_matrix()


def test_png_pages_are_a4_at_the_given_dpi():
    pages = labels.label_sheet_png(CODES[:5], "https://trace.example.org", dpi=100)
    assert len(pages) == 1
    img = Image.open(io.BytesIO(pages[0]))
    assert img.size == (round(210 / 25.4 * 100), round(297 / 25.4 * 100))
    assert img.getextrema()[0] == 0  # dark modules were drawn


def test_empty_sheet_refused():
    with pytest.raises(InvalidInput):
        labels.label_sheet_svg([], "https://x")
