"""Corpora and datasets that ship inside packages, domain packs, provenance."""
