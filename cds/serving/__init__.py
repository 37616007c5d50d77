"""Serving the app: the pack holder every call asks for its evaluator, with hot reload
(`reload`), the worker processes of `cds serve` (`workers`) and the app factory each worker
runs (`factory`). The app builds the pack holder, and the factory builds the app: the one
import from this package up to `cds.app` (tests/test_layering.py allows it by name)."""
