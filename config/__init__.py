"""Configuration: the TOML contract, its typed model and validation (see model.py), and the
bottom layer everything else stands on: the naming helper, the region catalogue, the facts stacks
write and operations read, the errors. Nothing here imports modules/, stacks/ or ops/."""
