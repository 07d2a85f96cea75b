"""Tests of ``ductape_jobs.scheduling``: recurring schedules, arming, the DST companion."""
