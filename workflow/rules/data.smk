rule prepare_data:
    output:
        manifest=str(layout.manifest(RESULTS, DATASET)),
    log:
        job_log(layout.data_dir(RESULTS, DATASET).parent, "prepare_data"),
    benchmark:
        job_benchmark(layout.data_dir(RESULTS, DATASET).parent, "prepare_data")
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
    shell:
        "python -m repsub prepare --spec {params.spec:q} --manifest {output.manifest:q} 2> {log:q}"
