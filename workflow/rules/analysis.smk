rule selectivity:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
    output:
        table=report(
            str(layout.selectivity(RESULTS, DATASET, MODEL, SEED, VARIANT)),
            caption="../report/selectivity.rst",
            category="Unit tables",
            labels={
                "data": "{dataset}",
                "model": "{model}",
                "seed": "{seed}",
                "variant": "{variant}",
                "table": "selectivity",
            },
        ),
    log:
        job_log(
            layout.variant_dir(RESULTS, DATASET, MODEL, SEED, VARIANT), "selectivity"
        ),
    benchmark:
        job_benchmark(
            layout.variant_dir(RESULTS, DATASET, MODEL, SEED, VARIANT), "selectivity"
        )
    conda:
        "../../envs/torch.yaml"
    threads: JOBS["threads"]
    resources:
        **torch_job(8000, 60, JOBS["threads"]),
    params:
        split=config["analysis"]["split"],
        batch_size=config["analysis"]["batch_size"],
        unit=unit_of,
        device=config["device"],
    shell:
        "python -m repsub selectivity --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --split {params.split:q} --batch-size {params.batch_size:q} --unit {params.unit:q}"
        " --out {output.table:q}"
        " --device {params.device:q} --threads {threads:q} > {log:q} 2>&1"


rule activation_maximisation:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
    output:
        images=am_output("images"),
        units=am_output("units"),
        substitution=am_output("substitution"),
        trace=am_output("trace"),
        trajectory=am_output("trajectory"),
        rs_steps=am_output("rs_steps"),
        movement=am_output("movement"),
        rs=report(
            am_output("rs"),
            caption="../report/rs.rst",
            category="Unit tables",
            subcategory="{model} {layer}",
            labels={
                "data": "{dataset}",
                "model": "{model}",
                "seed": "{seed}",
                "variant": "{variant}",
                "table": "RS {method}",
            },
        ),
        sheet=report(
            am_output("sheet"),
            caption="../report/contact_sheet.rst",
            category="AM and IAM images",
            subcategory="{model}",
            labels={
                "data": "{dataset}",
                "seed": "{seed}",
                "variant": "{variant}",
                "layer": "{layer}",
                "method": "{method}",
            },
        ),
    log:
        job_log(
            layout.method_dir(RESULTS, DATASET, MODEL, SEED, VARIANT, LAYER, METHOD),
            "am",
        ),
    benchmark:
        job_benchmark(
            layout.method_dir(RESULTS, DATASET, MODEL, SEED, VARIANT, LAYER, METHOD),
            "am",
        )
    conda:
        "../../envs/torch.yaml"
    threads: JOBS["threads"]
    resources:
        **torch_job(8000, 120, JOBS["threads"]),
    params:
        settings=stage_settings("am", exclude=("methods",)),
        unit=unit_of,
        split=config["analysis"]["split"],
        batch_size=config["analysis"]["batch_size"],
        device=config["device"],
        precision=config["precision"],
    shell:
        "python -m repsub am --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --layer {wildcards.layer:q} --method {wildcards.method:q} --settings {params.settings:q}"
        " --unit {params.unit:q}"
        " --split {params.split:q} --batch-size {params.batch_size:q}"
        " --images {output.images:q} --units {output.units:q}"
        " --substitution {output.substitution:q} --trace {output.trace:q} --rs {output.rs:q}"
        " --sheet {output.sheet:q} --trajectory {output.trajectory:q} --rs-steps {output.rs_steps:q}"
        " --movement {output.movement:q} --device {params.device:q} --precision {params.precision:q}"
        " --threads {threads:q} > {log:q} 2>&1"
