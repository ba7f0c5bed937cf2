"""Liangshan (两山): software for the ecological product value realization mechanism.

The accounting engine (:mod:`liangshan.accounting`) is usable on its own; the
platform domains (registry, catalog, accounts, market, ledger, trace, identity …)
build on :mod:`liangshan.db`.
"""

__version__ = "0.1.0"
