"""End-to-end harness: an AWS emulator (moto server plus responders for what moto 5.2.5 lacks) that
real Terraform applies and destroys whole environments against (`make e2e`).

- `e2e.emulator`: `Emulator`, the server and its WSGI middleware; `RESPONDERS`, what it adds to moto
  and why.
- `e2e.cloudfront`, `e2e.budgets`, `e2e.lambda_runner`, `e2e.s3`: the responders.
- `e2e.seed`: what exists in a real organisation before any stack runs (the public hosted zone,
  the AWS-managed prefix lists moto lacks).
"""
