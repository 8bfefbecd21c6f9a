"""The Lambda function sources, loaded as modules. lambda/ is a folder of function sources, not a
package (`lambda` is a keyword). Imported by tests/test_ingest_handler.py, which also runs on
Lambda's Python 3.12 (tests/test_runtimes_real.py): standard library only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_handler(module_name: str = "ingest_handler"):
    """A fresh copy of lambda/ingest/handler.py: it reads its environment and creates its clients
    at import, so a test that changes the environment (or the AWS mock) loads it again, under a
    name of its own when copies must not share module state."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "lambda" / "ingest" / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
