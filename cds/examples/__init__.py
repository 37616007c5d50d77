"""Example patients and `cds example`."""
