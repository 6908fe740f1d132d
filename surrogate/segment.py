"""``iahemo segment``: an angiogram -> ``labels.nii.gz`` (0 background, 1 vessel, 2 aneurysm) and
``probabilities.nii.gz`` (one volume per label), both on the input's own grid and affine, + ``segment.json``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cfdgen.atomic import write_json
from cfdgen.imaging import read_image, write_nifti
from surrogate.seg_data import LABEL_NAMES
from surrogate.seg_net import DEFAULT_SEG_MODEL, load_seg_model, segment_array


def segment_command(image_path: str | Path, out_dir: str | Path, model_path: str | Path | None = None,
                    progress=None, threads: int | None = None) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    image = read_image(image_path)
    model = load_seg_model(model_path or DEFAULT_SEG_MODEL)
    t_load = time.perf_counter() - t0
    seg = segment_array(model, image, progress=progress)
    t_seg = time.perf_counter() - t0 - t_load
    out = Path(out_dir)
    write_nifti(seg.labels, image.affine, out / "labels.nii.gz")
    # Probabilities as bytes with a 1/255 scale factor: a quarter of the float size and fast to compress;
    # nibabel and ITK readers apply the scale and return floats.
    q = np.rint(np.moveaxis(seg.probabilities, 0, -1) * 255).astype(np.uint8)
    write_nifti(q, image.affine, out / "probabilities.nii.gz", scale=1 / 255)
    counts = {name: int((seg.labels == k).sum()) for k, name in enumerate(LABEL_NAMES)}
    vox = float(np.prod(image.spacing))
    summary = {
        "image": str(image_path),
        "shape": list(image.shape),
        "spacing_mm": image.spacing.tolist(),
        "modality": seg.prepared.modality,
        "working_shape": list(seg.prepared.array.shape),
        "model": str(model_path or DEFAULT_SEG_MODEL),
        "model_test_metrics": model.metrics.get("test", {}),
        "voxels": counts,
        "volume_mm3": {k: v * vox for k, v in counts.items() if k != "background"},
        "seconds": {"load": t_load, "segment": t_seg, "total": time.perf_counter() - t0},
    }
    write_json(out / "segment.json", summary)
    return summary
