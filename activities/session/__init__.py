"""Sessions: config, token cryptography, the store and the placeholder resolution activity."""
