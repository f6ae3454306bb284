"""attnsim simulator."""
