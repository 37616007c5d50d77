"""HTTP routes: thin adapters between the CDS Hooks wire format and the evaluation pipeline."""
