"""Tests of ``ductape_jobs.planning``: inputs in every seed shape, inference, previews, timing."""
