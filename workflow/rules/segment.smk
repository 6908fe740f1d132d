# Image-only cases: segment the angiogram (3D U-Net) and reconstruct the lumen surface the mesh rule consumes.
# Same commands as by hand; `segmentation.model` in the config picks another model than the shipped one.


rule segment:
    input:
        image=case_image,
    output:
        surface=SEGMENTATION_DIR + "/surface.vtp",
        labels=SEGMENTATION_DIR + "/labels.nii.gz",
    params:
        out=SEGMENTATION_DIR,
        model=lambda wildcards: f"--model {SEG_MODEL}" if SEG_MODEL else "",
    log:
        RESULTS + "/logs/{case}/segment.log",
    benchmark:
        RESULTS + "/benchmarks/{case}/segment.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "iahemo segment {input.image} {params.model} -q -o {params.out} > {log} 2>&1"
        " && iahemo reconstruct {output.labels} -o {params.out} >> {log} 2>&1"
