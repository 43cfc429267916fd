"""The demo: a seeded synthetic store run through 180 simulated days by the real flows and decisions."""
