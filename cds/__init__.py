"""Stress-pain CDS Hooks service (see README.md: Architecture for the packages and their order)."""
