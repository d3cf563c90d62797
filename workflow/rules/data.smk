rule download_cifar10:
    output:
        record=str(layout.download_record(RESULTS, DATASET)),
    log:
        job_log(layout.data_dir(RESULTS, DATASET).parent, "download_cifar10"),
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        **retried(2000, 60),
    params:
        root=lambda wc: config["datasets"][wc.dataset]["root"],
    shell:
        "python -m repsub download-cifar10 --root {params.root:q} --out {output.record:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule prepare_data:
    input:
        download_inputs,
    output:
        manifest=MANIFEST,
        splits=[str(layout.split_path(MANIFEST, split)) for split in layout.SPLITS],
    log:
        job_log(layout.data_dir(RESULTS, DATASET).parent, "prepare_data"),
    benchmark:
        job_benchmark(layout.data_dir(RESULTS, DATASET).parent, "prepare_data")
    wildcard_constraints:
        dataset=datasets_matching(in_memory=True),
    conda:
        "../../envs/torch.yaml"
    threads: JOBS["threads"]
    resources:
        **retried(8000, 30),
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
    shell:
        "python -m repsub prepare --spec {params.spec:q} --manifest {output.manifest:q}"
        " --threads {threads:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


# A streamed image folder is read by each step: preparing it writes only its manifest.
use rule prepare_data as prepare_streamed_data with:
    output:
        manifest=MANIFEST,
    wildcard_constraints:
        dataset=datasets_matching(in_memory=False),
