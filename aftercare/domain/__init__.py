"""The pure core: journey definition, customer state and decisions. No Prefect, database or SDK imports."""
