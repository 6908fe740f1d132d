# Post-processing of one run in one job: `iahemo sample` derives the wall indices (<run>/post/{wall.vtp,
# summary.json, tawss_osi.png}) and resamples them to the point cloud samples/uq_<k>/sample.h5. Two records are
# written last, atomically, by cfdgen.dataset: <run>/post/record.json (what the UQ analysis reads) and
# samples/uq_<k>.json (what the manifest reads). A run that did not converge is skipped, not an error: both
# records say why, and a stale sample.h5 from an earlier converged version of the run is removed so nothing
# contradicts them. One job per run rather than two (post, then sample) keeps the DAG of a 1,000-case cohort
# small (benchmarks/dag_scale.py).


rule sample:
    input:
        qc=RUN_DIR + "/qc.json",
    output:
        post=RUN_DIR + "/post/record.json",
        record=CASE_DIR + "/samples/uq_{sample}.json",
    params:
        run=RUN_DIR,
        out=SAMPLE_DIR,
        points=config["sample"]["points"],
        seed=config["sample"]["seed"],
    log:
        LOGS + "/sample_uq_{sample}.log",
    benchmark:
        BENCH + "/sample_uq_{sample}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        """
        if python -m cfdgen.dataset status {params.run} > {log} 2>&1; then
            iahemo sample {params.run} --points {params.points} --seed {params.seed} -o {params.out} >> {log} 2>&1
        else
            rm -rf {params.out}
            echo "workflow: run not converged, no post-processing and no sample" >> {log}
        fi
        python -m cfdgen.dataset record {params.run} --product post={params.run}/post/summary.json \
            -o {output.post} >> {log} 2>&1
        python -m cfdgen.dataset record {params.run} --product sample={params.out}/sample.h5 \
            -o {output.record} >> {log} 2>&1
        """
