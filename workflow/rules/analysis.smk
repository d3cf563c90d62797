rule selectivity:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
        splits=prepared_splits,
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
        layers=lambda wc: layers_of(run_of(wc.dataset, wc.model)),
        device=config["device"],
    shell:
        "python -m repsub selectivity --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --split {params.split:q} --batch-size {params.batch_size:q} --unit {params.unit:q}"
        " --layers {params.layers:q}"
        " --out {output.table:q}"
        " --device {params.device:q} --threads {threads:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


# One job makes every method of a layer that its variant computes itself: the base all of
# them, a variant only those it changes (it shares the others with the base). Outputs
# cannot depend on wildcards, so each such set of methods has its rule.
for AM_METHODS, AM_VARIANTS in am_method_sets().items():

    rule:
        name:
            am_rule_name(AM_METHODS)
        input:
            checkpoint=CHECKPOINT,
            manifest=MANIFEST,
            splits=prepared_splits,
        output:
            **{
                kind: am_outputs(kind, AM_METHODS)
                for kind in layout.AM_FILES
                if kind not in ("rs", "sheet")
            },
            **{
                f"rs_{method}": report(
                    am_output("rs", method),
                    caption="../report/rs.rst",
                    category="Unit tables",
                    subcategory="{model} {layer}",
                    labels={
                        "data": "{dataset}",
                        "model": "{model}",
                        "seed": "{seed}",
                        "variant": "{variant}",
                        "table": f"RS {method}",
                    },
                )
                for method in AM_METHODS
            },
            **{
                f"sheet_{method}": report(
                    am_output("sheet", method),
                    caption="../report/contact_sheet.rst",
                    category="AM and IAM images",
                    subcategory="{model}",
                    labels={
                        "data": "{dataset}",
                        "seed": "{seed}",
                        "variant": "{variant}",
                        "layer": "{layer}",
                        "method": method,
                    },
                )
                for method in AM_METHODS
            },
        log:
            job_log(
                layout.am_layer_dir(RESULTS, DATASET, MODEL, SEED, VARIANT, LAYER),
                "am",
            ),
        benchmark:
            job_benchmark(
                layout.am_layer_dir(RESULTS, DATASET, MODEL, SEED, VARIANT, LAYER),
                "am",
            )
        wildcard_constraints:
            variant="|".join(AM_VARIANTS),
        conda:
            "../../envs/torch.yaml"
        threads: JOBS["threads"]
        resources:
            **torch_job(8000, 120, JOBS["threads"]),
        params:
            settings=stage_settings("am", exclude=("methods",)),
            methods=AM_METHODS,
            folder=str(
                layout.am_layer_dir(RESULTS, DATASET, MODEL, SEED, VARIANT, LAYER)
            ),
            unit=unit_of,
            split=config["analysis"]["split"],
            batch_size=config["analysis"]["batch_size"],
            device=config["device"],
            precision=config["precision"],
        shell:
            "python -m repsub am --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
            " --layer {wildcards.layer:q} --methods {params.methods:q} --settings {params.settings:q}"
            " --unit {params.unit:q} --split {params.split:q} --batch-size {params.batch_size:q}"
            " --out-dir {params.folder:q} --device {params.device:q} --precision {params.precision:q}"
            " --threads {threads:q} > {log:q} 2>&1"
            " || (tail -n 1 {log:q} >&2; exit 1)"


# A variant that changes only how RS is counted (rs_tolerance) counts again on the base's
# substitution matrices: making its images again would give the same images.
rule recount_rs:
    input:
        units=base_am_files("units"),
        substitution=base_am_files("substitution"),
        trajectory=base_am_files("trajectory"),
        base_rs_steps=base_am_files("rs_steps"),
    output:
        rs=am_outputs("rs", METHODS),
        rs_steps=am_outputs("rs_steps", METHODS),
    log:
        job_log(
            layout.am_layer_dir(RESULTS, DATASET, MODEL, SEED, VARIANT, LAYER),
            "recount",
        ),
    benchmark:
        job_benchmark(
            layout.am_layer_dir(RESULTS, DATASET, MODEL, SEED, VARIANT, LAYER),
            "recount",
        )
    wildcard_constraints:
        variant=recount_variants(),
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(2000, 10),
    params:
        settings=stage_settings("am", exclude=("methods",)),
        methods=METHODS,
    shell:
        "python -m repsub recount --layer {wildcards.layer:q} --methods {params.methods:q}"
        " --settings {params.settings:q} --units {input.units:q} --substitution {input.substitution:q}"
        " --trajectory {input.trajectory:q} --base-rs-steps {input.base_rs_steps:q}"
        " --rs {output.rs:q} --rs-steps {output.rs_steps:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"
