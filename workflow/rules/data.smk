rule prepare_data:
    output:
        manifest=f"{RESULTS}/{{dataset}}/data/manifest.json",
    log:
        f"{RESULTS}/logs/{{dataset}}/prepare_data.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/prepare_data.tsv"
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
