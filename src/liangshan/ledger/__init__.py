"""Ledger: the double-entry journal of money and units, and the transparency log.

Only the ledger changes balances (DESIGN §3 rule 3). Public functions live in
:mod:`liangshan.ledger.service`; the Merkle arithmetic (:mod:`.merkle`) and the
signed-note format (:mod:`.note`) are pure and usable on their own, e.g. by a
client that checks proofs.
"""
