# iahemo ground-truth workflow. Stages live in workflow/rules/, one file each; every rule calls the `iahemo`
# CLI, i.e. the same library functions a user runs by hand.
#   snakemake -j 2 --profile config/profiles/local
#   snakemake -j 64 --profile config/profiles/slurm
from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")

RESULTS = config.get("results_dir", "results")
SYNTH_DIR = config["synth"]["out"]


include: "workflow/rules/synth.smk"


rule all:
    input:
        f"{SYNTH_DIR}/cohort.csv",
