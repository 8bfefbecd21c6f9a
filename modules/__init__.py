"""One construct per concern. Importing this package puts the bundled Node.js first on PATH
(see runtime.py) before anything can start the jsii kernel."""

from modules import runtime as _runtime

_runtime.use_bundled_node()
