# Distillation: the hemodynamics surrogate trained on the dataset manifest (`iahemo train`: ensemble + channel-3
# ablation, evaluated on the held-out geometries), then the risk side's learned part: the high-risk-region model
# trained on that surrogate's output against CFD-derived labels (IoU on the held-out geometries in regions.json). The model folder is assembled by the CLI and the artifact is
# written atomically, so a killed job leaves no model that looks finished. Adding a case changes the manifest,
# which reruns only this rule downstream of the new case's CFD.

MODEL_DIR = f"{RESULTS}/models/hemodynamics"


def train_options(wildcards):
    s = config.get("surrogate", {})
    opts = [f"--{k} {s[k]}" for k in ("epochs", "ensemble", "points", "seed", "ema") if s.get(k) is not None]
    if s.get("options"):
        opts.insert(0, f"--config {s['options']}")
    if not s.get("ablation", True):
        opts.append("--no-ablation")
    return " ".join(opts)


rule train_surrogate:
    input:
        manifest=f"{DATASET}/manifest.json",
        # a changed options file retrains the model
        options=config.get("surrogate", {}).get("options") or [],
    output:
        model=f"{MODEL_DIR}/hemodynamics.pt",
        evaluation=f"{MODEL_DIR}/evaluation.json",
    params:
        out=MODEL_DIR,
        options=train_options,
    log:
        f"{RESULTS}/logs/train_surrogate.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_surrogate.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=config.get("surrogate", {}).get("runtime", 240),
    shell:
        "OMP_NUM_THREADS={threads} iahemo train --manifest {input.manifest} {params.options} -q -o {params.out} "
        "> {log} 2>&1"


rule train_regions:
    input:
        manifest=f"{DATASET}/manifest.json",
        model=f"{MODEL_DIR}/hemodynamics.pt",
    output:
        model=f"{MODEL_DIR}/regions.pt",
        report=f"{MODEL_DIR}/regions.json",
    params:
        epochs=config.get("surrogate", {}).get("region_epochs", 80),
    log:
        f"{RESULTS}/logs/train_regions.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_regions.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python -m surrogate.region_net --manifest {input.manifest} --model {input.model} --epochs {params.epochs} "
        "-o {output.model} > {log} 2>&1"
