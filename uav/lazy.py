"""Package front doors that import their modules only when a name is first used.

A package's ``__init__`` lists what a newcomer starts from (``__all__``) and where each name
lives; importing the package stays cheap (no OpenCV, rasterio or shapely until needed) and a
package never imports its own modules in a cycle.
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, where: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for a package whose names live in its modules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : dict
        Public name -> module, relative to the package (``".survey"``).

    Returns
    -------
    (callable, callable)
        The module-level ``__getattr__`` and ``__dir__``.

    Examples
    --------
    In ``missions/__init__.py``::

        _WHERE = {"plan_survey": ".survey"}
        __all__ = sorted(_WHERE)
        __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
    """

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__():
        return sorted(where)

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
