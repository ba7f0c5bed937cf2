"""Traceability: one item one code, signed events in the transparency log, regional brands."""
