"""Configuration of the synthetic cohort generator (ranges from the foundation issue; lengths in mm)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from cfdgen.errors import ConfigError

GENERATOR_VERSION = "2"  # 2: neck stalk, zero-set projection without folds


@dataclass(frozen=True)
class SynthConfig:
    surface_spacing: float = 0.2  # marching-cubes grid of the lumen surface
    truth_subdivisions: int = 6  # icosphere level of the sac construction used for ground truth (81,920 faces)
    parent_radius: tuple[float, float] = (1.2, 2.5)
    taper: tuple[float, float] = (0.0, 0.12)  # fractional radius loss along the parent
    parent_length: tuple[float, float] = (28.0, 40.0)
    turn_deg: tuple[float, float] = (20.0, 55.0)  # bend per control segment (siphon-like curvature)
    neck: tuple[float, float] = (2.0, 6.0)
    dome: tuple[float, float] = (3.0, 15.0)  # dome diameter
    bifurcation_angle_deg: tuple[float, float] = (35.0, 70.0)  # each daughter from the parent axis
    daughter_length: tuple[float, float] = (12.0, 18.0)
    extension: float = 10.0  # straight tube continued past each open end (image field of view, clean cuts)
    image_spacing: tuple[float, float] = (0.3, 0.6)
    image_margin: float = 3.0
    kinds: tuple[str, ...] = ("sidewall", "bifurcation")
    shapes: tuple[str, ...] = ("sphere", "ellipsoid", "lobulated")
    max_attempts: int = 40

    def __post_init__(self):
        if not 0.02 <= self.surface_spacing <= 1.0:
            raise ConfigError(f"synth surface spacing must be in [0.02, 1] mm (got {self.surface_spacing})")
        if not 2 <= self.truth_subdivisions <= 7:
            raise ConfigError(f"synth truth_subdivisions must be in [2, 7] (got {self.truth_subdivisions})")
        for name in ("parent_radius", "taper", "parent_length", "neck", "dome", "image_spacing"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ConfigError(f"synth {name} must be a range lo <= hi with lo >= 0 (got {lo}, {hi})")

    def digest(self) -> str:
        """Hash of everything that changes the generated files (with the generator version)."""
        text = json.dumps({"v": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
