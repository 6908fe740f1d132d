# Wall indices of one run (`iahemo post` → <run>/post/{wall.vtp, summary.json, tawss_osi.png}). A run that did
# not converge is skipped, not an error: the job then only writes its record (status, reason, post: null), so the
# workflow goes on under on_failure "continue". The record is written last and atomically, by cfdgen.dataset.


rule post:
    input:
        qc=RUN_DIR + "/qc.json",
    output:
        record=RUN_DIR + "/post/record.json",
    params:
        run=RUN_DIR,
    log:
        LOGS + "/post_uq_{sample}.log",
    benchmark:
        BENCH + "/post_uq_{sample}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        """
        if python -m cfdgen.dataset status {params.run} > {log} 2>&1; then
            iahemo post {params.run} >> {log} 2>&1
        else
            echo "workflow: run not converged, post-processing skipped" >> {log}
        fi
        python -m cfdgen.dataset record {params.run} --product post={params.run}/post/summary.json \
            -o {output.record} >> {log} 2>&1
        """
