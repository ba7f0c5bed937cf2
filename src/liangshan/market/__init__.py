"""Market: serial-numbered rights, trading modes, settlement, matching and reports.

Public functions live in :mod:`liangshan.market.service`; balances move only
through :func:`liangshan.ledger.service.post_entry` (DESIGN §3 rule 3).
"""
