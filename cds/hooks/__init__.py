"""CDS Hooks: the wire models, the service definitions and prefetch."""
