"""The worker's outgoing HTTP: its connection lanes and how a failed call is reported."""
