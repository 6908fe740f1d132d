"""The README's demo job: `iahemo assess` on the bundled sample patient (the shipped synthetic case syn1_000) and,
when ../shared/realdata is present, on the real C0015 surface; then a small synthetic cohort and its morphology
table (the ground truth the project tests against)."""

from __future__ import annotations

from pathlib import Path

from cfdgen import registry
from cfdgen.case import load_case
from cfdgen.plots import cohort_figure
from cfdgen.synth.cohort import generate_cohort

REPO = Path(__file__).resolve().parents[1]
SAMPLE_PATIENT = REPO / "cases" / "syn1_000" / "case.yaml"
REAL_C0015 = REPO.parent / "shared" / "realdata" / "vampy_aneurisk_C0015" / "artery.vtp"
COLUMNS = ("size", "height", "width", "neck_diameter", "aspect_ratio", "size_ratio", "nsi", "ei", "ui", "inflow_angle")


def format_table(rows: list[dict]) -> str:
    head = ["case", "kind", "shape"] + [
        f"{registry.MORPHOLOGY[c].label} [{registry.MORPHOLOGY[c].unit}]" for c in COLUMNS
    ]
    body = [[r["id"], r["kind"], r["shape"]] + [f"{r[c]:.2f}" for c in COLUMNS] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(line, widths)) for line in [head, *body]]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def _summary(a: dict) -> str:
    dist = a["grade_distribution"]
    spread = "" if not dist else " (" + ", ".join(f"{k} {dist[k]:.0%}" for k in ("low", "intermediate", "high")) + ")"
    phases = "not computable" if a["phases_score"] is None else a["phases_score"]
    ood = ", out of distribution" if a["out_of_distribution"] else ""
    return f"grade {a['grade'] or 'not computed'}{spread}, PHASES {phases}{ood}"


def run_demo(out: Path, n: int = 6, seed: int = 1) -> None:
    from surrogate.assess import assess

    def say(msg: str) -> None:
        print(f"  ... {msg}", flush=True)

    case = load_case(SAMPLE_PATIENT)
    print(f"iahemo assess {case.surface.relative_to(REPO)} (bundled sample patient, synthetic):")
    a = assess(case.surface, case, out / "assess_syn1_000", progress=say)
    print(f"  {_summary(a)} -> {out / 'assess_syn1_000' / 'report.html'}")
    if REAL_C0015.is_file():
        print("iahemo assess on the real C0015 surface (no case file: population BCs, no clinical fields):")
        a = assess(REAL_C0015, None, out / "assess_C0015", progress=say)
        for m in a["messages"]:
            print(f"  note: {m}")
        print(f"  {_summary(a)} -> {out / 'assess_C0015' / 'report.html'}")

    cases = out / "cases"
    rows = generate_cohort(n, seed, cases)
    print("\nGround-truth morphology of a synthetic cohort (exact, from the construction):\n")
    print(format_table(rows))
    fig = cohort_figure(rows, cases, out / "cohort.png")
    print(f"\ncases: {cases}/<id>/ (case.yaml, surface.vtp, image.nii.gz, labels.nii.gz, morphology_truth.json)")
    print(f"table: {cases / 'cohort.csv'}\nfigure: {fig}")
