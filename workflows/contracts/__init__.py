"""Data contracts: the shapes that cross Temporal, one module per capability."""
