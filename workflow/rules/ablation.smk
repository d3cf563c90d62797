rule single_unit_ablation:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
        splits=prepared_splits,
    output:
        table=report(
            str(layout.ablation(RESULTS, DATASET, MODEL, SEED, LAYER)),
            caption="../report/ablation.rst",
            category="Unit tables",
            subcategory="{model} {layer}",
            labels={
                "data": "{dataset}",
                "model": "{model}",
                "seed": "{seed}",
                "table": "ablation",
            },
        ),
    log:
        job_log(layout.layer_dir(RESULTS, DATASET, MODEL, SEED, LAYER), "ablation"),
    benchmark:
        job_benchmark(
            layout.layer_dir(RESULTS, DATASET, MODEL, SEED, LAYER), "ablation"
        )
    conda:
        "../../envs/torch.yaml"
    threads: JOBS["threads"]
    resources:
        **torch_job(8000, 120, JOBS["threads"]),
    params:
        split=config["analysis"]["split"],
        batch_size=config["analysis"]["batch_size"],
        settings=stage_settings("ablation"),
        device=config["device"],
    shell:
        "python -m repsub ablate --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --layer {wildcards.layer:q} --split {params.split:q} --batch-size {params.batch_size:q}"
        " --settings {params.settings:q}"
        " --out {output.table:q} --device {params.device:q} --threads {threads:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule cumulative_ablation:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
        splits=prepared_splits,
        selectivity=str(layout.selectivity(RESULTS, DATASET, MODEL, SEED, BASE)),
        rs=str(
            layout.am_file(
                RESULTS, DATASET, MODEL, SEED, BASE, LAYER, RS_ORDER_METHOD, "rs"
            )
        ),
    output:
        table=str(layout.cumulative(RESULTS, DATASET, MODEL, SEED, LAYER)),
    log:
        job_log(layout.layer_dir(RESULTS, DATASET, MODEL, SEED, LAYER), "cumulative"),
    benchmark:
        job_benchmark(
            layout.layer_dir(RESULTS, DATASET, MODEL, SEED, LAYER), "cumulative"
        )
    conda:
        "../../envs/torch.yaml"
    threads: JOBS["threads"]
    resources:
        **torch_job(8000, 120, JOBS["threads"]),
    params:
        split=config["analysis"]["split"],
        batch_size=config["analysis"]["batch_size"],
        settings=stage_settings("ablation"),
        device=config["device"],
    shell:
        "python -m repsub cumulative --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --layer {wildcards.layer:q} --selectivity {input.selectivity:q} --rs {input.rs:q}"
        " --split {params.split:q} --batch-size {params.batch_size:q} --settings {params.settings:q}"
        " --out {output.table:q} --device {params.device:q} --threads {threads:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"
