"""The ``storage`` event type: config, safe paths, backends and the activity."""
