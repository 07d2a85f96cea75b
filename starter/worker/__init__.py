"""The worker: its sandbox runner, telemetry, logging, search attributes and replay."""
