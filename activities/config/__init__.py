"""The product config, the secrets it declares, its component lookups and the drivers it needs."""
