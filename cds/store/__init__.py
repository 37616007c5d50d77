"""Audit trail, feedback store and card suppression."""
