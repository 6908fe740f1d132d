"""Point-cloud samples as the hemodynamics surrogate consumes them, and their normalisation.

A sample (cfdgen.pointcloud) is read into a :class:`Cloud`: the three input channels of DESIGN.md —
(1) coordinates + normals, (2) the morphology and BC vector of the run, (3) the low-fidelity WSS vector — and the
target wall fields the registry marks ``target`` (TAWSS, OSI, TAP, mean WSS vector). Splits come from the
manifest, which assigns whole geometries, never single BC samples, to train/val/test.

:class:`Normalisation` is fitted on the training split only and travels inside the model artifact: every
constant inference uses comes from it. Positive fields (registry ``positive``) are learned as log values.

Time-averaged pressure is learned relative to the run's reference level (the pressure-wire mean, in the BC
vector; 0 Pa gauge when a case has no wire): the wall's pressure differences are a few hundred pascals on a level
of ~13 kPa, and a dataset that mixes measured and gauge levels would otherwise teach the network the level.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from cfdgen import registry
from cfdgen.errors import IahemoError
from cfdgen.lofi import LOFI_MODEL
from cfdgen.pointcloud import SampleInputs, read_sample

LOFI = registry.FIELDS["wss_lofi"].key
CONTEXT = registry.FIELDS["wall_context"].key
TARGETS: tuple[str, ...] = tuple(k for k, f in registry.FIELDS.items() if f.target)
# Non-target fields kept in the packed dataset for evaluation (sac-level quantities, risk labels).
EXTRA_FIELDS: tuple[str, ...] = ("ntawss", "wssg")
LOG_FLOOR = 1e-4  # Pa; TAWSS below it (stagnant corners) is clipped before the log
PRESSURE = registry.FIELDS["tap"].key
TAWSS = registry.FIELDS["tawss"].key
PRESSURE_REFERENCE = "bc:mean_pressure_pa"


CHANNEL3_KEYS = tuple(registry.FIELDS[k].key for k in ("tawss", "wss_mean", "osi"))


def channel3_fields(lofi: np.ndarray) -> dict[str, np.ndarray]:
    """Channel 3's own answer for the fields it determines (CHANNEL3_KEYS): TAWSS and the mean WSS vector are the
    low-fidelity estimate, and OSI is 0 (the steady, one-directional flow that estimate assumes)."""
    lofi = np.asarray(lofi, dtype=np.float64)
    return dict(zip(CHANNEL3_KEYS, (np.linalg.norm(lofi, axis=1), lofi, np.zeros(len(lofi)))))


def reference_pressure(values: np.ndarray, names) -> float:
    """The run's pressure reference level (Pa) from its morphology+BC vector; 0 when absent."""
    names = list(names)
    if PRESSURE_REFERENCE not in names:
        return 0.0
    v = float(np.asarray(values, dtype=np.float64)[names.index(PRESSURE_REFERENCE)])
    return v if np.isfinite(v) else 0.0


@dataclass(frozen=True, eq=False)
class Cloud:
    """One run on one geometry, in the sample's units (mm, SI fields)."""

    case_id: str
    geometry: str  # geometry hash: the unit of the splits
    bc_sample: str
    split: str
    points: np.ndarray  # (n, 3) mm
    normals: np.ndarray  # (n, 3)
    sac: np.ndarray  # (n,) uint8
    lofi: np.ndarray  # (n, 3) Pa
    globals_: np.ndarray  # (k,) morphology then BC values (NaN where unknown)
    global_names: tuple[str, ...]
    fields: dict[str, np.ndarray] = field(default_factory=dict)  # registry key → (n,) or (n, 3)
    context: np.ndarray | None = None  # (n, k) registry wall_context; None in samples made before it existed
    # what channel 3 holds: the sample's ``lofi_model`` and its settings (``lofi_settings``, e.g. a steady solve's
    # mesh level and interpolation); one model reads one source
    channel3: dict = field(default_factory=lambda: {"model": LOFI_MODEL})

    @property
    def p_ref(self) -> float:
        return reference_pressure(self.globals_, self.global_names)


FRAMES = ("none", "pca")


# The mirror image in the principal-axes frame: the third axis negated. A mirrored vessel, in any pose, has these
# frame coordinates (canonical_rotation keeps the frame right-handed, so no rotation undoes a mirror).
MIRROR = np.diag([1.0, 1.0, -1.0])


def canonical_rotation(points: np.ndarray, lofi: np.ndarray | None = None) -> np.ndarray:
    """R (3 × 3, det +1) whose columns are the cloud's principal axes, largest first: ``points @ R`` puts a vessel in
    the same pose whatever the scanner's orientation. Signs: the first axis along the low-fidelity flow
    (Σ lofi · axis > 0; by the third moment of the projections without it), the second by the third moment, the
    third completes a right-handed frame."""
    x = np.asarray(points, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, vecs = np.linalg.eigh(x.T @ x)
    axes = vecs[:, ::-1].copy()  # largest variance first
    for j in (0, 1):
        proj = x @ axes[:, j]
        sign = np.sum(proj**3)
        if j == 0 and lofi is not None:
            flow = float(np.sum(np.asarray(lofi, dtype=np.float64) @ axes[:, 0]))
            sign = flow if abs(flow) > 0 else sign
        if sign < 0:
            axes[:, j] = -axes[:, j]
    axes[:, 2] = np.cross(axes[:, 0], axes[:, 1])
    return axes


def rotate_cloud(c: Cloud, rotation: np.ndarray) -> Cloud:
    """The cloud with its points and every vector (normals, channel 3, vector fields) multiplied by ``rotation``
    from the right (row vectors)."""
    r = np.asarray(rotation, dtype=np.float64)
    fields = {k: v @ r if np.ndim(v) == 2 else v for k, v in c.fields.items()}
    return replace(c, points=c.points @ r, normals=c.normals @ r, lofi=c.lofi @ r, fields=fields)


def in_frame(c: Cloud, frame: str) -> Cloud:
    """The cloud as a model with this ``frame`` (FRAMES) sees it."""
    return rotate_cloud(c, canonical_rotation(c.points, c.lofi)) if frame == "pca" else c


def target_columns(targets: tuple[str, ...] = TARGETS) -> list[tuple[str, int]]:
    """(field, component) for every output channel: a vector field takes three."""
    return [(k, c) for k in targets for c in range(registry.FIELDS[k].ncomp)]


def stack_targets(fields: dict[str, np.ndarray], targets: tuple[str, ...] = TARGETS) -> np.ndarray:
    cols = []
    for k in targets:
        if k not in fields:
            raise IahemoError(f"sample lacks the target field {k!r}")
        v = np.asarray(fields[k], dtype=np.float64)
        cols.append(v.reshape(len(v), -1))
    return np.concatenate(cols, axis=1)


def vector_columns(targets: tuple[str, ...]) -> list[int]:
    """The first column of every 3-vector field among the stacked targets."""
    cols = target_columns(targets)
    return [j for j, (k, c) in enumerate(cols) if c == 0 and registry.FIELDS[k].ncomp == 3]


def rotate_targets(y: np.ndarray, targets: tuple[str, ...], rotation: np.ndarray) -> np.ndarray:
    """Stacked targets (n, c) with every vector field's columns multiplied by ``rotation`` from the right."""
    y = np.array(y, dtype=np.float64)
    for j in vector_columns(targets):
        y[:, j : j + 3] = y[:, j : j + 3] @ rotation
    return y


def split_targets(y: np.ndarray, targets: tuple[str, ...] = TARGETS) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for k in targets:
        n = registry.FIELDS[k].ncomp
        out[k] = y[:, i] if n == 1 else y[:, i : i + n]
        i += n
    return out


def input_vector(inputs: SampleInputs, bc: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """The morphology + BC vector of a sample's or a prepared surface's inputs (``bc`` in place of their own BC
    vector) and its names, ``morph:<key>`` and ``bc:<key>``."""
    names = [*(f"morph:{n}" for n in inputs.morphology_names), *(f"bc:{n}" for n in inputs.bc_names)]
    g = np.concatenate([inputs.morphology, inputs.bc if bc is None else bc]).astype(np.float64)
    return g, names


def read_cloud(path: str | Path, split: str = "", geometry: str = "", bc_sample: str = "") -> Cloud:
    s = read_sample(path)
    c = s.cloud
    if LOFI not in c.fields:
        raise IahemoError(f"{path}: no {LOFI} field (channel 3); re-run 'iahemo sample'")
    g, names = input_vector(s.inputs)
    prov = s.provenance
    keep = {k: np.asarray(v) for k, v in c.fields.items() if k in TARGETS or k in EXTRA_FIELDS}
    return Cloud(
        case_id=str(prov.get("case_id") or Path(path).parent.name),
        geometry=geometry or str(prov.get("geometry_hash") or ""),
        bc_sample=bc_sample or str((prov.get("bc_sample") or {}).get("sample_id", "")),
        split=split,
        points=np.asarray(c.points, dtype=np.float64),
        normals=np.asarray(c.normals, dtype=np.float64),
        sac=np.asarray(c.sac, dtype=np.uint8),
        lofi=np.asarray(c.fields[LOFI], dtype=np.float64),
        globals_=g,
        global_names=tuple(names),
        fields=keep,
        context=np.asarray(c.fields[CONTEXT], dtype=np.float64) if CONTEXT in c.fields else None,
        channel3={"model": str(prov.get("lofi_model") or LOFI_MODEL), **(prov.get("lofi_settings") or {})},
    )


def channel3_source(clouds: list[Cloud], what: str = "the samples") -> dict:
    """The one channel-3 source of ``clouds``; a mix (Poiseuille-Dean and steady CFD) is refused."""
    sources = {json.dumps(c.channel3, sort_keys=True) for c in clouds}
    if len(sources) != 1:
        raise IahemoError(f"{what} mix channel-3 sources ({'; '.join(sorted(sources))}): a model reads one")
    return json.loads(sources.pop())


def load_manifest(path: str | Path) -> tuple[dict, list[dict]]:
    """The manifest and its sample entries with absolute paths."""
    path = Path(path)
    if not path.is_file():
        raise IahemoError(f"no dataset manifest at {path}")
    manifest = json.loads(path.read_text())
    base = path.parent if manifest.get("paths_relative_to") == "manifest folder" else Path(".")
    entries = [{**s, "path": str((base / s["path"]).resolve())} for s in manifest["samples"]]
    if not entries:
        raise IahemoError(f"{path}: the manifest lists no samples")
    return manifest, entries


def load_clouds(manifest_path: str | Path, progress: bool = False) -> list[Cloud]:
    from tqdm import tqdm

    _, entries = load_manifest(manifest_path)
    out = []
    for e in tqdm(entries, desc="samples", disable=not progress, leave=False):
        out.append(read_cloud(e["path"], e["split"], e.get("geometry_hash", ""), str(e.get("bc_sample", ""))))
    return out


def save_channel3(path: str | Path, fields: dict[tuple[str, str], np.ndarray], channel3: dict) -> Path:
    """Channel-3 fields of a dataset's runs, ``(case_id, bc_sample) -> (n, 3)`` Pa, from another source than the
    samples' own (``channel3``: its lofi_model and settings), in one compact HDF5 file kept beside the dataset:
    half precision like the packed fields, ~40 kB a run where a copy of the sample would be ~400 kB."""
    import h5py

    from cfdgen.atomic import atomic_path

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["channel3"] = json.dumps(channel3, sort_keys=True)
        for (case_id, bc_sample), v in sorted(fields.items()):
            f.create_dataset(f"{case_id}/{bc_sample}", data=np.asarray(v, dtype=np.float16), compression="gzip",
                             shuffle=True)  # fmt: skip
    return Path(path)


def with_channel3(clouds: list[Cloud], path: str | Path) -> list[Cloud]:
    """``clouds`` with channel 3 from ``path`` (save_channel3) where it has the run; the others keep their own
    (a model then refuses the mix: channel3_source)."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise IahemoError(f"{path}: not a channel-3 file ({exc})") from None
    with f:
        if "channel3" not in f.attrs:
            raise IahemoError(f"{path}: not a channel-3 file (no 'channel3' source; save_channel3 writes one)")
        source = json.loads(f.attrs["channel3"])
        out = []
        for c in clouds:
            key = f"{c.case_id}/{c.bc_sample}"
            if key not in f:
                out.append(c)
                continue
            lofi = np.asarray(f[key][()], dtype=np.float64)
            if lofi.shape != c.lofi.shape:
                raise IahemoError(f"{path}: {key} has {lofi.shape[0]} points, the sample {len(c.points)}")
            out.append(replace(c, lofi=lofi, channel3=dict(source)))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Normalisation


@dataclass
class Normalisation:
    """Every constant between raw sample values and network values (fitted on the training split)."""

    coord_scale: float  # mm; coordinates are centred per cloud (centroid) and divided by this
    global_names: list[str]
    global_mean: list[float]
    global_std: list[float]
    lofi_scale: float  # Pa; channel 3 is divided by it (its direction matters, so no centring)
    targets: list[str]
    log_targets: list[str]  # learned as log(max(v, LOG_FLOOR))
    target_mean: list[float]  # per output column, in the learned (log) space
    target_std: list[float]
    # True: TAP is learned as TAP − the run's reference level (False in artifacts made before this existed)
    relative_pressure: bool = False
    # log targets learned as log(value / |low-fidelity WSS|): the network corrects channel 3's Poiseuille estimate
    # instead of rebuilding the μQ/R³ scaling from the inputs
    lofi_residual: list[str] = field(default_factory=list)
    # per global input: finite in every training run (None in artifacts made before this existed)
    global_measured: list[bool] | None = None
    # "pca": every cloud is turned into its principal-axes frame (canonical_rotation) before the network sees it,
    # and the vector outputs are turned back
    frame: str = "none"
    # per wall_context column, standardisation of the per-point context inputs; empty: the model does not use them
    context_mean: list[float] = field(default_factory=list)
    context_std: list[float] = field(default_factory=list)

    # -- fitting
    @classmethod
    def fit(
        cls,
        clouds: list[Cloud],
        targets: tuple[str, ...] = TARGETS,
        lofi_residual: tuple[str, ...] = (),
        frame: str = "none",
        context: bool = False,
    ) -> Normalisation:
        """Fitted on the clouds as given: in the model's frame already (``in_frame``)."""
        if not clouds:
            raise IahemoError("no training samples to fit the normalisation on")
        if frame not in FRAMES:
            raise IahemoError(f"unknown frame {frame!r} (one of {', '.join(FRAMES)})")
        names = clouds[0].global_names
        if any(c.global_names != names for c in clouds):
            raise IahemoError("samples disagree on their morphology/BC vector names (mixed code versions?)")
        radii = [np.percentile(np.linalg.norm(c.points - c.points.mean(0), axis=1), 95) for c in clouds]
        g = np.stack([c.globals_ for c in clouds])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (morphology of sac-less vessels)
            g_mean = np.nanmean(g, axis=0)
            g_std = np.nanstd(g, axis=0)
        g_mean = np.where(np.isfinite(g_mean), g_mean, 0.0)
        g_std = np.where(np.isfinite(g_std) & (g_std > 1e-12 * np.maximum(1.0, np.abs(g_mean))), g_std, 1.0)
        lofi = np.concatenate([np.linalg.norm(c.lofi, axis=1) for c in clouds])
        log_targets = [k for k in targets if registry.FIELDS[k].positive]
        norm = cls(
            coord_scale=float(np.median(radii)),
            global_names=list(names),
            global_mean=g_mean.tolist(),
            global_std=g_std.tolist(),
            lofi_scale=float(np.sqrt(np.mean(lofi**2))) or 1.0,
            targets=list(targets),
            log_targets=log_targets,
            target_mean=[],
            target_std=[],
            relative_pressure=PRESSURE in targets and PRESSURE_REFERENCE in names,
            lofi_residual=[k for k in lofi_residual if k in log_targets],
            global_measured=np.isfinite(g).all(axis=0).tolist(),
            frame=frame,
        )
        y = np.concatenate([norm._forward_targets(stack_targets(c.fields, targets), c.p_ref, c.lofi) for c in clouds])
        norm.target_mean = y.mean(axis=0).tolist()
        norm.target_std = np.maximum(y.std(axis=0), 1e-8).tolist()
        if context:
            missing = sorted({c.case_id for c in clouds if c.context is None})
            if missing:
                raise IahemoError(
                    f"{len(missing)} training samples have no {CONTEXT} field (e.g. {missing[0]}): add it with "
                    "'python -m surrogate.pack_context' or train with context off"
                )
            k = np.concatenate([c.context for c in clouds])
            norm.context_mean = k.mean(axis=0).tolist()
            norm.context_std = np.maximum(k.std(axis=0), 1e-8).tolist()
        return norm

    # -- inputs
    def coords(self, points: np.ndarray) -> np.ndarray:
        return (points - points.mean(axis=0)) / self.coord_scale

    def globals_(self, values: np.ndarray, names: tuple[str, ...] | list[str]) -> np.ndarray:
        if list(names) != self.global_names:
            raise IahemoError("the morphology/BC vector does not match the model's (different registry version?)")
        z = (np.asarray(values, dtype=np.float64) - self.global_mean) / self.global_std
        return np.where(np.isfinite(z), z, 0.0)  # unknown (no aneurysm: NaN morphology) → the training mean

    @property
    def uses_context(self) -> bool:
        return bool(self.context_mean)

    def point_features(
        self, normals: np.ndarray, lofi: np.ndarray, use_lofi: bool = True, context: np.ndarray | None = None
    ) -> np.ndarray:
        """Per-point network inputs besides the coordinates: normals, channel 3, and the standardised wall context
        when the model uses it."""
        lo = lofi / self.lofi_scale if use_lofi else np.zeros_like(lofi)
        if not self.uses_context:
            return np.concatenate([normals, lo], axis=1)
        if context is None or np.shape(context) != (len(normals), len(self.context_mean)):
            raise IahemoError(
                f"this surrogate reads the per-point {CONTEXT} ({len(self.context_mean)} columns): pass it "
                f"(got {None if context is None else np.shape(context)})"
            )
        k = (np.asarray(context, dtype=np.float64) - self.context_mean) / self.context_std
        return np.concatenate([normals, lo, k], axis=1)

    # -- targets
    def _log_mask(self) -> np.ndarray:
        return np.array([k in self.log_targets for k, _ in target_columns(tuple(self.targets))])

    def _offsets(self, p_ref: float = 0.0, lofi: np.ndarray | None = None) -> np.ndarray:
        """What is subtracted from each output column in the learned space, per point: the run's reference level
        (TAP) and log |low-fidelity WSS| (``lofi_residual`` fields)."""
        cols = target_columns(tuple(self.targets))
        off = np.zeros((1 if lofi is None else len(lofi), len(cols)))
        for j, (k, _) in enumerate(cols):
            if k == PRESSURE and self.relative_pressure:
                off[:, j] = p_ref
            elif k in self.lofi_residual:
                if lofi is None:
                    raise IahemoError(f"the model learns {k} relative to the low-fidelity WSS: pass it")
                off[:, j] = np.log(np.maximum(np.linalg.norm(lofi, axis=1), LOG_FLOOR))
        return off

    def _forward_targets(self, y: np.ndarray, p_ref: float = 0.0, lofi: np.ndarray | None = None) -> np.ndarray:
        y = np.array(y, dtype=np.float64)
        m = self._log_mask()
        y[:, m] = np.log(np.maximum(y[:, m], LOG_FLOOR))
        return y - self._offsets(p_ref, lofi)

    def encode_targets(self, y: np.ndarray, p_ref: float = 0.0, lofi: np.ndarray | None = None) -> np.ndarray:
        """Physical targets of a run (reference pressure ``p_ref`` in Pa, low-fidelity WSS ``lofi``) → network."""
        return (self._forward_targets(y, p_ref, lofi) - self.target_mean) / self.target_std

    def decode_targets(self, z: np.ndarray, p_ref: float = 0.0, lofi: np.ndarray | None = None) -> np.ndarray:
        y = np.asarray(z, dtype=np.float64) * self.target_std + self.target_mean + self._offsets(p_ref, lofi)
        m = self._log_mask()
        y[..., m] = np.exp(y[..., m])
        return y

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Normalisation:
        return cls(**d)
