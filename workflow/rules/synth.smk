# Synthetic cohort: surfaces, synthetic CTA, labels and exact morphology (the training and testing ground).


rule synth_cohort:
    output:
        table=f"{SYNTH_DIR}/cohort.csv",
    params:
        n=config["synth"]["n"],
        seed=config["synth"]["seed"],
        spacing=config["synth"]["surface_spacing"],
        out=SYNTH_DIR,
    log:
        f"{RESULTS}/logs/synth_cohort.log",
    benchmark:
        f"{RESULTS}/benchmarks/synth_cohort.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=10 + 1 * config["synth"]["n"],
    shell:
        "iahemo synth -n {params.n} --seed {params.seed} --spacing {params.spacing} -o {params.out} -q > {log} 2>&1"
