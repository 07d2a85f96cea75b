"""The recording HTTP target now ships with the package (``ductape_jobs.testing.target``), for users'
own suites; the project's tests keep importing it from here."""

from __future__ import annotations

from ductape_jobs.testing.target import HttpTarget, Received

__all__ = ["HttpTarget", "Received"]
