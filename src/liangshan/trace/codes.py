"""The traceability code (追溯码): one code per batch and per item, with a check character.

Structure (26 characters, upper-case, no separators in the QR code) [NF: our own layout —
the structure of GB/T 44583-2024 has not been obtained, MECHANISMS.md §7 gap 9]:

=========  ======  ==========================================================
segment    length  content
=========  ======  ==========================================================
region     6       GB/T 2260 county code of the place of origin or processing
producer   4       the producing organisation's ID in base 36 (0-9A-Z), zero-padded
product    3       product-type code from :data:`PRODUCT_TYPES`
batch      6       the producer's batch sequence for that product, decimal
serial     6       the item inside the batch; ``000000`` names the batch itself
check      1       ISO/IEC 7064 MOD 37-2 check character over the 25 before it
=========  ======  ==========================================================

Shown to people in groups: ``522701-00A1-101-000123-000001-X``; hyphens, spaces
and lower case are accepted on input and removed. The check character is one
of ``0-9A-Z*`` — all in the QR alphanumeric set, so a code-only QR stays small.

MOD 37-2 (ISO/IEC 7064:2003, pure system, modulus 37, radix 2) catches every
single-character substitution and every transposition of adjacent characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from liangshan.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_BASE36 = ALPHABET[:36]
LENGTH = 26
SEGMENTS = (("region", 6), ("producer", 4), ("product", 3), ("batch", 6), ("serial", 6),
            ("check", 1))
_BODY = re.compile(r"^\d{6}[0-9A-Z]{4}\d{3}\d{6}\d{6}$")

#: Product-type codes [NF: our own table; no national product-type code list was found for
#: this segment]. Chinese names are those used in the pilot counties' products.
PRODUCT_TYPES: dict[str, tuple[str, str]] = {
    "tea_leaf": ("100", "茶鲜叶"),
    "tea": ("101", "茶叶"),
    "dendrobium": ("201", "石斛"),
    "gastrodia": ("202", "天麻"),
    "bamboo_shoot": ("301", "竹笋"),
    "rice": ("401", "大米"),
    "chili": ("402", "辣椒"),
    "kiwifruit": ("403", "猕猴桃"),
    "honey": ("501", "蜂蜜"),
    "other": ("999", "其他"),
}
PRODUCT_BY_CODE = {code: name for name, (code, _zh) in PRODUCT_TYPES.items()}


def mod37_2_check(body: str) -> str:
    """The ISO/IEC 7064 MOD 37-2 check character of ``body`` (characters of ``0-9A-Z*``).

    Recursive form of the pure system: ``p = (p + v) · 2 mod 37`` over the characters,
    then the check value is ``(38 − p) mod 37``, so that the whole string, check
    included, has weighted sum ≡ 1 (mod 37).
    """
    p = 0
    for ch in body:
        if ch not in _VALUE or ch == "*":
            raise InvalidInput(f"character {ch!r} in {body!r} is not allowed in a code body",
                               hint="a code body holds only 0-9 and A-Z")
        p = (p + _VALUE[ch]) * 2 % 37
    return ALPHABET[(38 - p) % 37]


def mod37_2_valid(text: str) -> bool:
    """True when the last character of ``text`` is the MOD 37-2 check of the rest."""
    if len(text) < 2 or text[-1] not in _VALUE:
        return False
    try:
        return mod37_2_check(text[:-1]) == text[-1]
    except InvalidInput:
        return False


def to_base36(number: int, width: int) -> str:
    """``number`` (≥ 0) in base 36, zero-padded to ``width`` characters."""
    if number < 0 or number >= 36 ** width:
        raise InvalidInput(f"{number} does not fit in {width} base-36 characters",
                           hint=f"the largest is {36 ** width - 1}")
    digits = []
    for _ in range(width):
        number, r = divmod(number, 36)
        digits.append(_BASE36[r])
    return "".join(reversed(digits))


@dataclass(frozen=True)
class TraceCode:
    """A parsed traceability code."""

    region: str
    producer: str
    product: str
    batch: str
    serial: str
    check: str

    @property
    def body(self) -> str:
        return self.region + self.producer + self.product + self.batch + self.serial

    @property
    def code(self) -> str:
        return self.body + self.check

    @property
    def batch_code(self) -> str:
        """The code of the batch this item belongs to (serial ``000000``)."""
        return make_code(self.region, self.producer, self.product, int(self.batch), 0)

    @property
    def serial_number(self) -> int:
        return int(self.serial)

    def display(self) -> str:
        return display(self.code)


def make_code(region: str, producer: str | int, product: str, batch: int, serial: int) -> str:
    """Assemble a code; ``producer`` is an organisation ID (int) or its 4-char base-36 form."""
    producer_text = to_base36(producer, 4) if isinstance(producer, int) else producer
    if product in PRODUCT_TYPES:
        product = PRODUCT_TYPES[product][0]
    if not 0 <= batch <= 999_999 or not 0 <= serial <= 999_999:
        raise InvalidInput(f"batch {batch} or serial {serial} outside 0 … 999999",
                           hint="open a new producer or product segment")
    body = f"{region}{producer_text}{product}{batch:06d}{serial:06d}"
    if not _BODY.match(body):
        raise InvalidInput(f"code body {body!r} does not have the form region(6 digits) "
                           "producer(4 of 0-9A-Z) product(3 digits) batch(6) serial(6)",
                           hint="region is the 6-digit GB/T 2260 county code")
    return body + mod37_2_check(body)


def normalise(text: str) -> str:
    """Remove hyphens and spaces and upper-case: the form stored and put in QR codes."""
    return re.sub(r"[\s\-]", "", text).upper()


def parse_code(text: str) -> TraceCode:
    """Parse and check a code; a wrong length, segment or check character is refused."""
    code = normalise(text)
    if len(code) != LENGTH:
        raise InvalidInput(f"traceability code {text!r} has {len(code)} characters, "
                           f"expected {LENGTH}",
                           hint="copy the whole code printed under the QR code")
    if not _BODY.match(code[:-1]):
        raise InvalidInput(f"traceability code {text!r} does not have the form "
                           "region(6 digits) producer(4) product(3 digits) batch(6) serial(6) "
                           "check(1)", hint="check for a mistyped letter or digit")
    if not mod37_2_valid(code):
        raise InvalidInput(f"traceability code {text!r}: wrong check character "
                           f"{code[-1]!r}",
                           hint="the code was mistyped or is not genuine; type it again "
                           "or scan the QR code")
    parts, pos = [], 0
    for _name, width in SEGMENTS:
        parts.append(code[pos:pos + width])
        pos += width
    return TraceCode(*parts)


def display(code: str) -> str:
    """``522701-00A1-101-000123-000001-X``: the grouped form printed under a QR code."""
    code = normalise(code)
    parts, pos = [], 0
    for _name, width in SEGMENTS:
        parts.append(code[pos:pos + width])
        pos += width
    return "-".join(parts)
