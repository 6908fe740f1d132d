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
