"""QR label sheets for a batch: one label per item code, as SVG or PNG (A4 pages).

Each QR code holds the public page's URL ``<base_url>/t/<code>`` (error correction
level M, so a scuffed label still scans); the grouped code is printed under it so
that it can be typed in when a camera is not at hand. The QR symbols are encoded by
the ``qrcode`` package; this module only lays them out.

Sizes: A4 (210 × 297 mm), 4 columns × 6 rows of 50 × 46 mm labels per page.
"""

from __future__ import annotations

import io
from html import escape

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from liangshan.errors import InvalidInput
from liangshan.trace.codes import display

PAGE_MM = (210.0, 297.0)
COLS, ROWS = 4, 6
LABEL_MM = (50.0, 46.0)
MARGIN_MM = (5.0, 10.5)
QR_MM = 32.0
PER_PAGE = COLS * ROWS


def code_url(base_url: str, code: str) -> str:
    """The URL a label's QR code holds."""
    return f"{base_url.rstrip('/')}/t/{code}"


def qr_matrix(data: str) -> list[list[bool]]:
    """The QR modules (True = dark), quiet zone of 2 modules included."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.get_matrix()


def _svg_path(matrix: list[list[bool]], x0: float, y0: float, size: float) -> str:
    n = len(matrix)
    m = size / n
    parts = []
    for r, row in enumerate(matrix):
        c = 0
        while c < n:  # one rectangle per horizontal run of dark modules: a smaller file
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                parts.append(f"M{x0 + start * m:.3f} {y0 + r * m:.3f}h{(c - start) * m:.3f}"
                             f"v{m:.3f}h{-(c - start) * m:.3f}z")
            else:
                c += 1
    return "".join(parts)


def _check(codes: list[str]) -> None:
    if not codes:
        raise InvalidInput("a label sheet needs at least one code",
                           hint="issue item codes for the batch first")


def label_sheet_svg(codes: list[str], base_url: str, title: str = "") -> list[str]:
    """SVG pages (one string per A4 page, sizes in mm) of labels for ``codes``."""
    _check(codes)
    pages = []
    w, h = PAGE_MM
    for start in range(0, len(codes), PER_PAGE):
        body = []
        for i, code in enumerate(codes[start:start + PER_PAGE]):
            col, row = i % COLS, i // COLS
            x = MARGIN_MM[0] + col * LABEL_MM[0]
            y = MARGIN_MM[1] + row * LABEL_MM[1]
            qx = x + (LABEL_MM[0] - QR_MM) / 2
            path = _svg_path(qr_matrix(code_url(base_url, code)), qx, y + 2, QR_MM)
            body.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{LABEL_MM[0]:.2f}" '
                f'height="{LABEL_MM[1]:.2f}" fill="none" stroke="#ccc" stroke-width="0.2"/>'
                f'<path d="{path}" fill="#000"/>'
                f'<text x="{x + LABEL_MM[0] / 2:.2f}" y="{y + QR_MM + 6:.2f}" font-size="2.6" '
                f'text-anchor="middle" font-family="monospace">{escape(display(code))}</text>'
                f'<text x="{x + LABEL_MM[0] / 2:.2f}" y="{y + QR_MM + 10:.2f}" font-size="2.8" '
                f'text-anchor="middle">{escape(title)}</text>')
        pages.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" '
                     f'viewBox="0 0 {w} {h}">{"".join(body)}</svg>')
    return pages


def label_sheet_png(codes: list[str], base_url: str, dpi: int = 200) -> list[bytes]:
    """PNG pages (A4 at ``dpi`` dots per inch) of labels for ``codes``."""
    _check(codes)
    if not 72 <= dpi <= 600:
        raise InvalidInput(f"dpi {dpi} outside 72 … 600")
    px = dpi / 25.4  # pixels per mm
    font = ImageFont.load_default(size=max(8, int(2.6 * px)))
    pages = []
    for start in range(0, len(codes), PER_PAGE):
        page = Image.new("L", (round(PAGE_MM[0] * px), round(PAGE_MM[1] * px)), 255)
        draw = ImageDraw.Draw(page)
        for i, code in enumerate(codes[start:start + PER_PAGE]):
            col, row = i % COLS, i // COLS
            x = (MARGIN_MM[0] + col * LABEL_MM[0]) * px
            y = (MARGIN_MM[1] + row * LABEL_MM[1]) * px
            matrix = qr_matrix(code_url(base_url, code))
            n = len(matrix)
            qr_px = round(QR_MM * px)
            img = Image.new("L", (n, n), 255)
            img.putdata([0 if dark else 255 for line in matrix for dark in line])
            img = img.resize((qr_px, qr_px), Image.Resampling.NEAREST)
            page.paste(img, (round(x + (LABEL_MM[0] * px - qr_px) / 2), round(y + 2 * px)))
            draw.text((x + LABEL_MM[0] * px / 2, y + (QR_MM + 5) * px), display(code),
                      fill=0, font=font, anchor="mm")
        buffer = io.BytesIO()
        page.save(buffer, format="PNG", dpi=(dpi, dpi))
        pages.append(buffer.getvalue())
    return pages
