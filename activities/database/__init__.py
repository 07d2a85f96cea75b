"""The ``database_action`` event type: config, filters, operations and the activity."""
