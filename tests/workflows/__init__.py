"""Tests of ``ductape_jobs.workflows``: the job workflow, its contracts, cron, arming, replay safety."""
