"""Helpers the tests share: configuration variants, synthesis, PostgreSQL, moto, the ingest handler,
the webapp on loopback and the Terraform stand-ins.

Test modules import helpers from here and never from each other, so running one test file never
collects (or silently depends on) another. tests/test_runtimes_real.py reruns some test modules on
Python 3.9 and 3.12 without the conftest, so the modules they import (handlers, postgres,
webapp_server) use only the standard library and stay 3.9-compatible; this file imports nothing.
"""
