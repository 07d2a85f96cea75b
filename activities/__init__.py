"""Activities: everything that touches the world (HTTP, session crypto, the product config)."""
