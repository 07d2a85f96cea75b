"""The ``action`` event type: one HTTP request to an app's action."""
