# The point-cloud sample of one run (`iahemo sample` → samples/uq_<k>/sample.h5) and its run record
# samples/uq_<k>.json (status, reason, sample path or null), which the manifest reads. Only converged runs get a
# sample.h5; a stale one from an earlier, converged version of the run is removed so nothing contradicts the record.
# After the post job: `iahemo sample` re-derives the wall indices into <run>/post, and two jobs writing that folder
# at once would race.


rule sample:
    input:
        post=RUN_DIR + "/post/record.json",
    output:
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
        runtime=20,
    shell:
        """
        if python -m cfdgen.dataset status {params.run} > {log} 2>&1; then
            iahemo sample {params.run} --points {params.points} --seed {params.seed} -o {params.out} >> {log} 2>&1
        else
            rm -rf {params.out}
            echo "workflow: run not converged, no sample" >> {log}
        fi
        python -m cfdgen.dataset record {params.run} --product sample={params.out}/sample.h5 \
            -o {output.record} >> {log} 2>&1
        """
