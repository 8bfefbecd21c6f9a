"""Fast synth: the provider package's __init__ (2,212 submodules) must never run.

Structural, not timed: a timing assertion would be flaky; bench/synth_bench.py measures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from pathlib import Path
import tempfile
from config import model
from stacks import app
config = model.load()
with tempfile.TemporaryDirectory() as tmp:
    app.synth(config, config.select("all"), Path(tmp) / "out", workers=1)  # in this process, to inspect it
loaded = [m for m in sys.modules if m.startswith("cdktf_cdktf_provider_aws.") and m.count(".") == 1]
package = sys.modules["cdktf_cdktf_provider_aws"]
print(len(loaded), hasattr(package, "__all__"))
"""


def test_synth_imports_only_the_provider_submodules_it_uses():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    count, ran_init = done.stdout.split()
    assert ran_init == "False", "the package __init__ ran: something imported the provider the ordinary way"
    assert 0 < int(count) < 200, f"{count} of the 2,212 provider submodules loaded"


def test_unknown_provider_module_is_a_clear_attribute_error():
    import pytest

    from modules import aws

    with pytest.raises(AttributeError, match="no module 'no_such_resource'"):
        aws.no_such_resource
