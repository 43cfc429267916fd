"""Measuring what the journey's marketing messages change: sent vs held-out groups per step."""
