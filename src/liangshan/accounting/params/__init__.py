"""Dated, referenced coefficients and prices (data files) and their loader.

Files: ``prices.csv`` (unit prices), ``price_indices.csv`` (CPI/PPI/fixed-asset
investment indices, preceding year = 100), ``indicators.csv`` (indicator registry:
class, units), ``valuation_params.csv`` (valuation-stage parameters). Every row has a
unit, a reference and a confidence tag; see :mod:`.loader`.
"""

from liangshan.accounting.params.loader import (
    PARAMS_DIR,
    PriceBook,
    PriceRecord,
    check_unit,
    file_sha256,
    read_indicators,
    read_price_indices,
    read_prices,
    read_valuation_params,
)

__all__ = [
    "PARAMS_DIR",
    "PriceBook",
    "PriceRecord",
    "check_unit",
    "file_sha256",
    "read_indicators",
    "read_price_indices",
    "read_prices",
    "read_valuation_params",
]
