"""Tests of ``ductape_jobs.activities``: each event type's activity against real services."""
