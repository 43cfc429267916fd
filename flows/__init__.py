"""Prefect flows: thin shells that load, decide and apply through `aftercare` services."""
