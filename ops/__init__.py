"""What the CLI drives beyond synthesis: the Terraform runner, plan review and the smoke
test. Filled in by the operations issue; nothing here yet."""
