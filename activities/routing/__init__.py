"""The event types that run user code or other events: functions, features, fallbacks, quotas."""
