"""Serving the app: the worker processes of `cds serve`, the app factory each worker runs, and
hot reload of the rule pack (the layer above the app: it may import everything else)."""
