"""Stack assembly: configuration -> cdktf App of RegionalStacks and EdgeStacks."""

import modules  # noqa: F401  (puts the bundled Node first on PATH before cdktf starts jsii)
