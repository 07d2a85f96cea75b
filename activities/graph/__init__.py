"""The ``graph`` event type: config, graph servers and the activity."""
