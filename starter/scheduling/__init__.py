"""A job plan into Temporal: workflows, schedules, arming ahead and the DST companion."""
