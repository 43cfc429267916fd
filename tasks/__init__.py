"""Prefect tasks: a few lines each, calling an application service on a batch (never one task per message)."""
