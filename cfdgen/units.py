"""Unit conversion for measurements and geometry: every value is converted to SI once, at intake."""

from __future__ import annotations

# quantity -> unit -> factor to SI (value_SI = value * factor), plus offset-free units only.
UNITS: dict[str, dict[str, float]] = {
    "velocity": {"m/s": 1.0, "cm/s": 1e-2, "mm/s": 1e-3},
    "flow": {
        "m3/s": 1.0,
        "mL/s": 1e-6,
        "ml/s": 1e-6,
        "mL/min": 1e-6 / 60.0,
        "ml/min": 1e-6 / 60.0,
        "L/min": 1e-3 / 60.0,
    },
    "pressure": {"Pa": 1.0, "kPa": 1e3, "mmHg": 133.322387415},
    "frequency": {"bpm": 1.0 / 60.0, "Hz": 1.0},
    "time": {"s": 1.0, "ms": 1e-3},
    "length": {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6},
}

SI_UNIT = {"velocity": "m/s", "flow": "m3/s", "pressure": "Pa", "frequency": "Hz", "time": "s", "length": "m"}


def to_si(value: float, unit: str, quantity: str) -> float:
    try:
        table = UNITS[quantity]
    except KeyError:
        raise ValueError(f"unknown quantity {quantity!r}") from None
    if unit not in table:
        raise ValueError(f"unknown {quantity} unit {unit!r} (allowed: {', '.join(table)})")
    return value * table[unit]


def length_to_mm(unit: str) -> float:
    """Factor that turns a length in ``unit`` into millimetres (geometry is handled in mm)."""
    return to_si(1.0, unit, "length") * 1e3
