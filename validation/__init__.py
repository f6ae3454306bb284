"""attnsim validation."""
