"""The ``notification`` event type: config, templates, channels and activities."""
