"""The ``publish`` and ``subscribe`` event types: broker clients, inboxes and activities."""
