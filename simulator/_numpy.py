"""numpy, imported on first use. A dense GPU point through the scalar path never touches it, which saves its
import (about 0.1 s of a 0.3-0.4 s ``attnsim simulate`` process). Modules on that path take ``np`` from here
instead of ``import numpy as np``; the first attribute read imports numpy and rebinds every module's ``np``
that is this stand-in to numpy itself, so hot code pays for the indirection once."""

import sys
from types import ModuleType

_MODULE_DICT = ModuleType.__dict__["__dict__"]


class _Numpy:
    __slots__ = ()

    def __getattr__(self, name):
        import numpy

        for module in list(sys.modules.values()):  # once: every `np` that is this stand-in becomes numpy
            # the module's own namespace, read past any __getattribute__ (a lazily loaded module stays unloaded)
            namespace = _MODULE_DICT.__get__(module) if isinstance(module, ModuleType) else None
            if isinstance(namespace, dict) and namespace.get("np") is self:
                namespace["np"] = numpy
        return getattr(numpy, name)

    def __repr__(self):
        return "<numpy, not imported yet>"


np = sys.modules["numpy"] if "numpy" in sys.modules else _Numpy()
