"""cfdgen: the physics side of iahemo (geometry, morphology, boundary conditions, CFD, wall indices).

Layering rule (checked by import-linter): nothing in ``cfdgen`` imports ``surrogate`` or ``iahemo``.
"""

__version__ = "0.1.0"
