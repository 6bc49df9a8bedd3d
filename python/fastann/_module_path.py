"""Keeps the module path of a split package's public classes and functions at the package (fastann.layers.Dense)."""

from __future__ import annotations


def set_module(namespace: dict, names) -> None:
    """Sets `__module__` of the classes and functions among `names` in a package's `namespace` to the package, as
    when each package was one module: pickles (a model pickles the loss object given to compile), reprs and help()
    name `fastann.layers.Dense`, not the file that defines it."""
    for name in names:
        obj = namespace[name]
        if isinstance(obj, type) or callable(obj):
            obj.__module__ = namespace["__name__"]
