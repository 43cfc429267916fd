"""Turning a decided step into the words a customer reads: context, templates, localisation."""
