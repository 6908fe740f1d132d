# The dataset manifest over every case: converged samples with a geometry-level train/val/test split, and the
# excluded runs with their reasons (cfdgen.dataset; the split rule is in its docstring). Cheap, so it runs on the
# submitting host, not as a cluster job.


localrules:
    case_records,
    manifest,


rule case_records:
    input:
        case_sample_records,
    output:
        CASE_DIR + "/samples/records.txt",
    run:
        from cfdgen.atomic import write_text

        write_text(output[0], "".join(f"{p}\n" for p in input))


rule manifest:
    input:
        lists=expand(CASE_DIR + "/samples/records.txt", case=list(CASES), level=LEVEL),
    output:
        json=DATASET + "/manifest.json",
        csv=DATASET + "/manifest.csv",
    params:
        out=DATASET,
        fractions=config["dataset"]["fractions"],
        seed=config["dataset"]["seed"],
    log:
        RESULTS + "/logs/manifest.log",
    benchmark:
        RESULTS + "/benchmarks/manifest.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    run:
        from cfdgen.dataset import read_records, write_manifest

        records = [line.strip() for path in input.lists for line in open(path) if line.strip()]
        m = write_manifest(read_records(records), params.out, params.fractions, params.seed)
        with open(log[0], "w") as fh:
            print(
                f"{m['n_samples']} samples of {m['n_geometries']} geometries "
                f"(train/val/test {', '.join(str(v['n_samples']) for v in m['splits'].values())}), "
                f"{m['n_excluded']} runs excluded -> {output.json}",
                file=fh,
            )
            for e in m["excluded"]:
                print(f"excluded {e['case_id']} {e['bc_sample']}: {e['status']}: {e['reason']}", file=fh)
