"""Configuration: the TOML contract, its typed model and validation (see model.py)."""
