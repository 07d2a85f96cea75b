"""Helpers shared by the tests: one free-port helper, one ``eventually``, the package's import graph."""
