"""Model variants for the surrogate benchmarks: trained once with ``iahemo train``, reused while their folder
holds a model."""

import subprocess
import sys
from pathlib import Path


def trained_model(folder: Path, manifest: str, options: dict) -> Path:
    """``folder/hemodynamics.pt`` trained with the TrainConfig ``options`` (no ablation) unless it exists."""
    import yaml

    model = folder / "hemodynamics.pt"
    if not model.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(options))
        subprocess.run(
            [sys.executable, "-m", "iahemo", "train", "--manifest", manifest, "--config", str(folder / "config.yaml"),
             "--no-ablation", "-q", "-o", str(folder)],
            check=True,
        )  # fmt: skip
    return model


def trained_side_by_side(manifest: str, options: dict[str, dict], out: Path) -> dict[str, Path]:
    """Every variant's model (``out/<name>``), the missing ones trained at the same time, one process each."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(options)) as pool:
        jobs = {v: pool.submit(trained_model, Path(out) / v, manifest, o) for v, o in options.items()}
        return {v: job.result() for v, job in jobs.items()}


def scored(model_path: Path, clouds, splits=("val", "test"), mirror_views: bool | None = None) -> dict:
    """A one-member variant's training summary and, per split, the evaluation's headline and run count
    (``mirror_views`` given: answering with or without the mirror image, whatever the model's own setting)."""
    from dataclasses import replace

    from surrogate.artifact import load_model
    from surrogate.evaluate import evaluate, headline

    model = load_model(model_path)
    if mirror_views is not None:
        model = replace(model, mirror_views=mirror_views)
    member = model.training["members"][0]
    row = {"best_epoch": member["best_epoch"], "best_val_loss": member["best_val"],
           "train_minutes": round(model.training["train_seconds"] / 60, 1)}  # fmt: skip
    for split in splits:
        result = evaluate(model, clouds, split=split, turned=False)
        row[split] = headline(result)
        row[f"{split}_runs"] = result["n_samples"]
    return row
