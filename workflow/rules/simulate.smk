# One pimpleFoam run per design point. `iahemo simulate` assembles the run in <run>.partial and renames it when it
# has a QC verdict; a killed job resumes from its newest complete time when restarted with the same settings.
#
# A diverged or failed run still gets its folder and qc.json (the recorded outcome) and the CLI exits 2. With
# on_failure "continue" that is a successful job (post and sample then skip the run and the manifest lists it as
# excluded); with "fail" the job fails with the solver's message. Any other error (no qc.json) always fails.
# on_failure is read in the shell text, not as a param, so switching it does not rerun every finished run.


# Settings fixed by the config are plain values, not functions: a 1,000-case DAG holds 16,000 simulate jobs, and
# Snakemake inspects and calls every function once per job (benchmarks/dag_scale.py).
_SIM = config["simulate"]
SIMULATE_OPTIONS = (
    (f"--end-time {_SIM['end_time']}" if _SIM.get("end_time") is not None else f"--cycles {_SIM['cycles']}")
    + f" --max-co {_SIM.get('max_co', 0.8)} --n-outer {_SIM.get('n_outer', 1)}"
    + f" --interpolation '{_SIM['interpolation']}'"
)


def run_design(wildcards):
    """The design folder a run reads its row from: the case's, or (test-only) a copy with a diverging row."""
    if (wildcards.case, wildcards.sample) in fault_runs():
        return RESULTS + f"/{wildcards.case}/{wildcards.level}/fault/uq_{wildcards.sample}"
    return RESULTS + f"/{wildcards.case}/{wildcards.level}/design"


# Without fault injection (every real run) the design folder is a pattern, not a function.
RUN_DESIGN = run_design if fault_runs() else DESIGN_DIR


rule simulate:
    input:
        mesh=MESH_DIR + "/qc.json",
        case=case_yaml,
        design=(lambda w: run_design(w) + "/design.csv") if fault_runs() else DESIGN_DIR + "/design.csv",
    output:
        qc=RUN_DIR + "/qc.json",
    params:
        mesh=MESH_DIR,
        run=RUN_DIR,
        design=RUN_DESIGN,
        time=SIMULATE_OPTIONS,
    log:
        LOGS + "/simulate_uq_{sample}.log",
    benchmark:
        BENCH + "/simulate_uq_{sample}.tsv"
    threads: NP
    resources:
        mem_mb=1000 + config["simulate"].get("mem_mb_per_rank", 1500) * NP,
        runtime=config["simulate"]["runtime"],
        # MPI: the CLI starts mpirun itself with --np ranks; SLURM allocates one task per rank
        tasks=NP,
        cpus_per_task=1,
    shell:
        """
        iahemo simulate {params.mesh} --case {input.case} --design {params.design} --sample {wildcards.sample} \
            {params.time} --np {threads} -q -o {params.run} > {log} 2>&1 || {{
            rc=$?
            if [ "$rc" -eq 2 ] && [ -f {output.qc} ] && [ "{config[on_failure]}" = continue ]; then
                echo "workflow: run not converged, recorded in {output.qc} (on_failure: continue)" >> {log}
            else
                echo "workflow: simulate failed (exit $rc, on_failure: {config[on_failure]}):" >&2
                tail -n 3 {log} >&2
                exit "$rc"
            fi
        }}
        """


# Test-only fault injection (config fault_injection.diverge: ["<case>/<sample>", ...]): a copy of the design whose
# row has its inflow scaled up (fault_injection.velocity_scale), so that one real run diverges in seconds.
rule inject_divergence:
    input:
        csv=DESIGN_DIR + "/design.csv",
        json=DESIGN_DIR + "/design.json",
    output:
        csv=CASE_DIR + "/fault/uq_{sample}/design.csv",
        json=CASE_DIR + "/fault/uq_{sample}/design.json",
    params:
        scale=(config.get("fault_injection") or {}).get("velocity_scale", 1e4),
    log:
        LOGS + "/inject_divergence_uq_{sample}.log",
    benchmark:
        BENCH + "/inject_divergence_uq_{sample}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=1,
    run:
        from cfdgen.atomic import write_text

        with open(input.csv, newline="") as fh:
            rows = list(csv.reader(fh))
        cols = [i for i, name in enumerate(rows[0]) if name.split(" ")[0] in ("mean_velocity", "mean_flow")]
        if not cols:
            raise WorkflowError(f"{input.csv}: no mean_velocity/mean_flow column to scale")
        for row in rows[1:]:
            if row[0] == wildcards.sample:
                for i in cols:
                    row[i] = repr(float(row[i]) * float(params.scale))
        write_text(output.json, Path(input.json).read_text())
        write_text(output.csv, "".join(",".join(r) + "\n" for r in rows))
        with open(log[0], "w") as fh:
            print(f"{wildcards.case} {wildcards.sample}: inflow x{params.scale} -> {output.csv}", file=fh)
