# The UQ design of one case: a checkpoint, because the number of runs (rows of design.csv) is known only once the
# design exists. It needs the mesh: the outlet count decides whether the flow-split exponent varies.


checkpoint uq_design:
    input:
        case=case_yaml,
        mesh=MESH_DIR + "/qc.json",
    output:
        csv=DESIGN_DIR + "/design.csv",
        json=DESIGN_DIR + "/design.json",
    params:
        out=DESIGN_DIR,
        mesh=MESH_DIR,
        method=config["uq"]["method"],
        n=lambda wc: config["uq"].get("n_by_case", {}).get(wc.case, config["uq"]["n"]),
        seed=config["uq"]["seed"],
        inputs=config["uq"].get("inputs"),
        pce_order=config["uq"].get("pce_order"),
    log:
        LOGS + "/uq_design.log",
    benchmark:
        BENCH + "/uq_design.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    # A script, not `iahemo uq design`: the CLI cannot yet choose the varied inputs or the PCE order
    # (cfdgen.uq.UQConfig), which a 4-run test design needs.
    script:
        "../scripts/uq_design.py"
