"""Temporal workflow code and the data contracts; deterministic, no I/O."""
