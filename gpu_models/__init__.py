"""attnsim gpu_models."""
