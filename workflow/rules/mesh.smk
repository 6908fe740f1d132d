# Prepare (centerlines, sac mask, flow extensions) and mesh (gmsh, prism layers) one case at one mesh level.
# `iahemo mesh` assembles the folder beside the target and renames it when whole, so a killed job leaves no
# folder that looks finished.

# Single-core gmsh; minutes per level on this machine's cores, scaled up for the cluster's slower queues.
MESH_RUNTIME = {"draft": 10, "tiny": 15, "coarse": 30, "medium": 90, "fine": 240}
MESH_MEM = {"draft": 2000, "tiny": 2000, "coarse": 4000, "medium": 8000, "fine": 16000}


rule mesh:
    input:
        surface=case_surface,
        case=case_yaml,
    output:
        qc=MESH_DIR + "/qc.json",
    params:
        out=MESH_DIR,
    log:
        LOGS + "/mesh.log",
    benchmark:
        BENCH + "/mesh.tsv"
    threads: 1
    resources:
        mem_mb=MESH_MEM[LEVEL],  # one level per workflow run (config mesh.level)
        runtime=MESH_RUNTIME[LEVEL],
    shell:
        "iahemo mesh {input.surface} --case {input.case} --level {wildcards.level} -o {params.out} > {log} 2>&1"
