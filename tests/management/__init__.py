"""Tests of ``ductape_jobs.management``: ``ductape.jobs`` and job definitions."""
