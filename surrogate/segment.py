"""``iahemo segment``: an angiogram -> ``labels.nii.gz`` (0 background, 1 vessel, 2 aneurysm) and
``probabilities.nii.gz`` (one volume per label), both on the input's own grid and affine, + ``segment.json``.

Two methods: ``unet`` (the trained network) and ``threshold``, the fallback for images unlike the training data
(another vessel calibre, another modality): region growing at half maximum — the threshold halfway between the
lumen intensity at the seeds and the background median, the classic lumen-edge criterion of angiography — from
seed points the user gives, or else from the voxels the network is confident about. It labels vessel only.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from cfdgen.atomic import write_json
from cfdgen.errors import ConfigError
from cfdgen.imaging import Image, read_image, write_nifti
from cfdgen.plots import segmentation_figure
from surrogate.seg_data import LABEL_NAMES, Preprocess, modality_of, normalise
from surrogate.seg_net import DEFAULT_SEG_MODEL, NoVesselError, Segmentation, load_seg_model, segment_array

METHODS = ("unet", "threshold")
CONFIDENT = 0.9  # network lumen probability above which voxels seed the threshold fallback


def threshold_labels(image: Image, seeds: np.ndarray, pre: Preprocess | None = None, smoothing_mm: float = 0.5):
    """Vessel mask (0/1) grown from ``seeds`` ((n, 3) voxel indices) at half maximum; also returns the threshold
    in normalised intensity."""
    norm, _ = normalise(image.array, pre or Preprocess())
    s = ndimage.gaussian_filter(norm, smoothing_mm / image.spacing)
    seeds = np.asarray(seeds, dtype=np.int64).reshape(-1, 3)
    seeds = seeds[np.all((seeds >= 0) & (seeds < np.array(image.shape)), axis=1)]
    if len(seeds) == 0:
        raise NoVesselError(f"{image.source}: no seed point inside the image for the threshold segmentation")
    lumen = float(np.median(s[tuple(seeds.T)]))
    background = float(np.median(s))
    if lumen <= background:
        raise NoVesselError(
            f"{image.source}: the seeds are not brighter than the background ({lumen:.2f} vs {background:.2f} "
            "normalised): not a bright-lumen angiogram, or the seeds miss the vessel"
        )
    t = 0.5 * (lumen + background)
    comp, _ = ndimage.label(s > t, structure=np.ones((3, 3, 3)))
    ids = np.unique(comp[tuple(seeds.T)])
    mask = ndimage.binary_fill_holes(np.isin(comp, ids[ids > 0]))
    return mask.astype(np.uint8), t


def _threshold_segmentation(image: Image, model, seeds_mm, progress) -> tuple[Segmentation, float]:
    if seeds_mm is not None and len(seeds_mm):
        seeds = np.rint(image.index(np.asarray(seeds_mm, dtype=np.float64).reshape(-1, 3)))
    else:
        net = segment_array(model, image, progress=progress)
        seeds = np.argwhere(1.0 - net.probabilities[0] > CONFIDENT)
    labels, t = threshold_labels(image, seeds, model.preprocess)
    prob = np.stack([1.0 - labels, labels, np.zeros_like(labels)]).astype(np.float32)
    return Segmentation(labels, prob, None), t


def segment_command(image_path: str | Path, out_dir: str | Path, model_path: str | Path | None = None,
                    progress=None, threads: int | None = None, method: str = "unet", seeds_mm=None,
                    figure_title: str | None = None, working_spacing: float | None = None) -> dict:
    """``working_spacing`` overrides the model's: the network knows cerebral calibres (1-5 mm lumen) at 0.4 mm, so
    a vessel k times wider is best seen at k times the spacing (an aorta: ~2 mm)."""
    import torch

    if method not in METHODS:
        raise ConfigError(f"segmentation method must be one of {', '.join(METHODS)} (got {method!r})")
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    image = read_image(image_path)
    model = load_seg_model(model_path or DEFAULT_SEG_MODEL)
    if working_spacing is not None:
        model.preprocess = replace(model.preprocess, working_spacing=working_spacing)
    t_load = time.perf_counter() - t0
    threshold = None
    if method == "unet":
        seg = segment_array(model, image, progress=progress)
    else:
        seg, threshold = _threshold_segmentation(image, model, seeds_mm, progress)
    t_seg = time.perf_counter() - t0 - t_load
    out = Path(out_dir)
    write_nifti(seg.labels, image.affine, out / "labels.nii.gz")
    # Probabilities as bytes with a 1/255 scale factor: a quarter of the float size and fast to compress;
    # nibabel and ITK readers apply the scale and return floats.
    q = np.rint(np.moveaxis(seg.probabilities, 0, -1) * 255).astype(np.uint8)
    write_nifti(q, image.affine, out / "probabilities.nii.gz", scale=1 / 255)
    title = figure_title if figure_title is not None else f"{Path(image_path).name}: {method} segmentation"
    segmentation_figure(image, seg.labels, out / "segment.png", title=title)
    counts = {name: int((seg.labels == k).sum()) for k, name in enumerate(LABEL_NAMES)}
    vox = float(np.prod(image.spacing))
    summary = {
        "image": str(image_path),
        "shape": list(image.shape),
        "spacing_mm": image.spacing.tolist(),
        "method": method,
        "working_spacing_mm": model.preprocess.working_spacing,
        "modality": modality_of(image.array) if model.preprocess.modality == "auto" else model.preprocess.modality,
        "threshold": threshold,
        "model": str(model_path or DEFAULT_SEG_MODEL),
        "model_test_metrics": model.metrics.get("test", {}),
        "voxels": counts,
        "volume_mm3": {k: v * vox for k, v in counts.items() if k != "background"},
        "seconds": {"load": t_load, "segment": t_seg, "total": time.perf_counter() - t0},
    }
    write_json(out / "segment.json", summary)
    return summary
