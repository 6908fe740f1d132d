# UQ analysis of one case (`iahemo uq analyse` → design/uq.json, uq_wall.vtp, plots) over its post-processed runs.
# PCE designs exclude non-converged runs; Sobol and Morris designs refuse a run set with holes. Under on_failure
# "continue" a refusal is recorded (design/analysis.json: status "refused" with the reason) instead of stopping
# the workflow; under "fail" it fails the job.


rule uq_analyse:
    input:
        design=DESIGN_DIR + "/design.csv",
        posts=post_records,
    output:
        record=DESIGN_DIR + "/analysis.json",
    params:
        design=DESIGN_DIR,
        # the CLI's run-folder pattern: {sample} stays for `iahemo uq analyse` to fill in
        runs=lambda w: RUN_DIR.format(case=w.case, level=w.level, sample="{sample}"),
    log:
        LOGS + "/uq_analyse.log",
    benchmark:
        BENCH + "/uq_analyse.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    run:
        import subprocess

        from cfdgen.atomic import write_json

        cmd = ["iahemo", "uq", "analyse", params.design, "--runs", params.runs]
        with open(log[0], "w") as fh:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
        lines = Path(log[0]).read_text().strip().splitlines()
        last = lines[-1] if lines else f"exit status {rc}"
        if rc == 0:
            write_json(output.record, {"status": "analysed", "reason": "", "uq_json": f"{params.design}/uq.json"})
        elif rc == 2 and ON_FAILURE == "continue":
            write_json(output.record, {"status": "refused", "reason": last, "uq_json": None})
        else:
            raise WorkflowError(f"uq analyse of {wildcards.case} failed (exit {rc}): {last}")
