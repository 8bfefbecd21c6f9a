"""The one place the AWS provider bindings are imported, lazily.

`import cdktf_cdktf_provider_aws.<x>` normally runs the package `__init__`, which imports
all 2,212 resource submodules (about 10 s) although a stack uses a few dozen. Here the
package is registered without running its `__init__`; only its jsii assembly (`_jsii`) and
the submodules actually used are imported, each once, on first attribute access. The
synthesized JSON is byte-for-byte the same (bench/synth_bench.py checks it).

    from modules import aws
    aws.vpc.Vpc(self, "vpc", ...)

If the package was already imported the ordinary way (the benchmark's baseline does that),
it is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import typing

from modules import runtime

_PACKAGE = "cdktf_cdktf_provider_aws"


def _register_package() -> None:
    if _PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"{_PACKAGE} is not installed: run `make setup` (it installs the pinned dependencies)"
        )
    runtime.use_bundled_node()
    package = types.ModuleType(_PACKAGE, "AWS provider bindings (registered lazily by modules.aws)")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = _PACKAGE
    sys.modules[_PACKAGE] = package
    try:
        importlib.import_module(f"{_PACKAGE}._jsii")  # loads the jsii assembly once
    except BaseException:
        del sys.modules[_PACKAGE]
        raise


class _CachedTyping(types.ModuleType):
    """The `typing` module as the provider bindings see it, with `get_type_hints` memoized.

    Every generated constructor re-evaluates the type hints of its argument stub on every call
    (`typing.get_type_hints(_typecheckingstub__...)`) before typeguard checks the arguments. The
    stubs never change, so their hints are computed once per stub; the checks themselves still
    run on every call. Everything else is the real `typing`."""

    def __init__(self) -> None:
        super().__init__("typing")
        self._hints: dict[object, dict] = {}

    def __getattr__(self, name: str):
        return getattr(typing, name)

    def get_type_hints(self, obj, *args, **kwargs):
        if args or kwargs:
            return typing.get_type_hints(obj, *args, **kwargs)
        try:
            return self._hints[obj]
        except KeyError:
            hints = self._hints[obj] = typing.get_type_hints(obj)
            return hints
        except TypeError:  # unhashable: not a stub function
            return typing.get_type_hints(obj)


_TYPING = _CachedTyping()


def __getattr__(name: str) -> types.ModuleType:
    if name.startswith("__"):
        raise AttributeError(name)
    _register_package()
    try:
        module = importlib.import_module(f"{_PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_PACKAGE}.{name}":
            raise
        raise AttributeError(f"the AWS provider bindings have no module {name!r}") from None
    # jsii's `publication` swaps the public module in; the functions live in the original one.
    original = sys.modules.get(f"{_PACKAGE}.{name}._private", module)
    original.typing = _TYPING  # memoized type hints (see _CachedTyping)
    globals()[name] = module  # later lookups skip __getattr__
    return module
