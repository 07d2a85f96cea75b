"""``ductape.jobs`` and job definitions: records, queries and management actions."""
