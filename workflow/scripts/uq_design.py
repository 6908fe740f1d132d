"""Snakemake script of the uq_design checkpoint: cfdgen.uq.design_command with the configured UQConfig."""

from contextlib import redirect_stderr, redirect_stdout

from cfdgen.uq import UQConfig, design_command

smk = snakemake  # noqa: F821 (injected by Snakemake)
p = smk.params
options = {}
if p.inputs:
    options["inputs"] = tuple(p.inputs)
if p.pce_order is not None:
    options["pce_order"] = int(p.pce_order)
with open(smk.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):
    try:
        design = design_command(
            smk.input.case, p.method, int(p.n), p.out, int(p.seed), mesh_dir=p.mesh, cfg=UQConfig(**options)
        )
    except Exception as exc:  # the message goes to the log, which Snakemake shows on failure
        print(f"uq design: error: {exc}")
        raise
    for note in design.notes:
        print(f"note: {note}")
    print(f"{design.method} design: {design.n_runs} runs over {', '.join(design.names)} -> {p.out}/design.csv")
