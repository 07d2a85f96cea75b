"""Payloads on the wire: the data converter, encryption and the codec server."""
