"""What the CLI drives beyond synthesis: the Terraform runner and pipeline (terraform.py,
pipeline.py, with its scheduling in waves.py and its progress display in status.py), plan review
(review.py), the post-deployment smoke test (smoke.py) and doctor."""
