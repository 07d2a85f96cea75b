"""Tests of ``ductape_jobs.worker``: settings, telemetry, faults, replay, encryption."""
