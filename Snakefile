# iahemo ground-truth workflow. Stages live in workflow/rules/, one file each; every rule calls the `iahemo`
# CLI or a library function, i.e. the same code a user runs by hand.
#   snakemake -j 2 --profile config/profiles/local
#   snakemake -j 2 --profile config/profiles/local --configfile config/test.yaml
#   snakemake -j 64 --profile config/profiles/slurm
#
# Chain per case and mesh level (results/<case>/<level>/...; image-only cases are first segmented and
# reconstructed into results/<case>/segmentation/surface.vtp):
#   mesh (prepare + gmsh) → uq_design (checkpoint: design.csv decides the runs) → simulate (one job per design
#   point) → sample (wall indices + point cloud + records of each run) → case_records → dataset manifest (all
#   cases) → train_surrogate (ensemble, ablation, held-out evaluation) → train_regions (high-risk regions);
#   sample → uq_analyse (per case).
from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")

RESULTS = config.get("results_dir", "results")
# The synthetic cohort goes under the results folder unless placed explicitly, so results_dir moves everything.
SYNTH_DIR = config["synth"].get("out") or f"{RESULTS}/synthetic"
SEG_MODEL = (config.get("segmentation") or {}).get("model")


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/mesh.smk"
include: "workflow/rules/uq_design.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/uq_analyse.smk"
include: "workflow/rules/surrogate.smk"
# The risk model's training joins here once its issue lands (workflow/rules/risk.smk, consuming the same manifest).


rule all:
    input:
        all_targets,
