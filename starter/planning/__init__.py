"""From a user's input (any seed shape) to a validated ``JobPlan``."""
