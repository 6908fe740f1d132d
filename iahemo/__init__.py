"""iahemo: command-line entry point over the ``cfdgen`` and ``surrogate`` libraries."""

from cfdgen import __version__

__all__ = ["__version__"]
