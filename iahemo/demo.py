"""The README's demo job. Until the inference path exists: a small synthetic cohort and its morphology table."""

from __future__ import annotations

from pathlib import Path

from cfdgen import registry
from cfdgen.plots import cohort_figure
from cfdgen.synth.cohort import generate_cohort

COLUMNS = ("size", "height", "width", "neck_diameter", "aspect_ratio", "size_ratio", "nsi", "ei", "ui", "inflow_angle")


def format_table(rows: list[dict]) -> str:
    head = ["case", "kind", "shape"] + [
        f"{registry.MORPHOLOGY[c].label} [{registry.MORPHOLOGY[c].unit}]" for c in COLUMNS
    ]
    body = [[r["id"], r["kind"], r["shape"]] + [f"{r[c]:.2f}" for c in COLUMNS] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(line, widths)) for line in [head, *body]]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def run_demo(out: Path, n: int = 6, seed: int = 1) -> None:
    cases = out / "cases"
    rows = generate_cohort(n, seed, cases)
    print("\nGround-truth morphology of the synthetic cohort (exact, from the construction):\n")
    print(format_table(rows))
    fig = cohort_figure(rows, cases, out / "cohort.png")
    print(f"\ncases: {cases}/<id>/ (case.yaml, surface.vtp, image.nii.gz, labels.nii.gz, morphology_truth.json)")
    print(f"table: {cases / 'cohort.csv'}\nfigure: {fig}")
