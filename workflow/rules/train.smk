rule check_model:
    input:
        manifest=MANIFEST,
        weights=lambda wc: [w for w in [loaded_weights(wc)] if is_weights_file(w)],
        code=lambda wc: model_code(run_of(wc.dataset, wc.checked)),
    output:
        str(layout.model_check(RESULTS, DATASET, "{checked}")),
    log:
        job_log(layout.model_dir(RESULTS, DATASET, "{checked}"), "check_model"),
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        **retried(4000, 30),
    params:
        model=lambda wc: run_of(wc.dataset, wc.checked)["model"],
        options=lambda wc: as_json(
            run_of(wc.dataset, wc.checked).get("model_options", {})
        ),
        weights=lambda wc: as_json(loaded_weights(wc)),
        layers=lambda wc: layers_of(run_of(wc.dataset, wc.checked)),
    shell:
        "python -m repsub check-model --manifest {input.manifest:q} --run {wildcards.checked:q}"
        " --model {params.model:q} --model-options {params.options:q} --weights {params.weights:q}"
        " --layers {params.layers:q} --out {output:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule train:
    input:
        manifest=MANIFEST,
        splits=prepared_splits,
        fit=lambda wc: model_check_of(wc.dataset, wc.trainable),
        code=lambda wc: model_code(run_of(wc.dataset, wc.trainable)),
    output:
        checkpoint=protected(str(layout.checkpoint(RESULTS, DATASET, TRAINABLE, SEED))),
        metrics=report(
            str(layout.metrics(RESULTS, DATASET, TRAINABLE, SEED)),
            caption="../report/metrics.rst",
            category="Training",
            labels={
                "data": "{dataset}",
                "model": "{trainable}",
                "seed": "{seed}",
                "table": "metrics",
            },
        ),
    log:
        job_log(layout.seed_dir(RESULTS, DATASET, TRAINABLE, SEED), "train"),
    benchmark:
        job_benchmark(layout.seed_dir(RESULTS, DATASET, TRAINABLE, SEED), "train")
    conda:
        "../../envs/torch.yaml"
    threads: JOBS["threads"]
    resources:
        **torch_job(8000, 240, JOBS["threads"]),
    params:
        model=lambda wc: run_of(wc.dataset, wc.trainable)["model"],
        settings=lambda wc: as_json(run_of(wc.dataset, wc.trainable)["train"]),
        options=lambda wc: as_json(
            run_of(wc.dataset, wc.trainable).get("model_options", {})
        ),
        device=config["device"],
        precision=config["precision"],
        registration=lambda wc: registration_of(int(wc.seed)),
    shell:
        "python -m repsub train --manifest {input.manifest:q} --model {params.model:q}"
        " --seed {wildcards.seed:q} --settings {params.settings:q} --model-options {params.options:q}"
        " {params.registration:q}"
        " --checkpoint {output.checkpoint:q} --metrics {output.metrics:q}"
        " --device {params.device:q} --precision {params.precision:q} --threads {threads:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule download_weights:
    output:
        weights=str(layout.weights(RESULTS, DATASET, PRETRAINED)),
    log:
        job_log(layout.model_dir(RESULTS, DATASET, PRETRAINED), "download_weights"),
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        **retried(4000, 60),
    params:
        model=lambda wc: run_of(wc.dataset, wc.pretrained)["model"],
        weights=lambda wc: weights_to_download(run_of(wc.dataset, wc.pretrained)),
    shell:
        "python -m repsub download-weights --model {params.model:q} --weights {params.weights:q}"
        " --out {output.weights:q}"
        " > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule pretrained_checkpoint:
    input:
        manifest=MANIFEST,
        splits=prepared_splits,
        fit=lambda wc: model_check_of(wc.dataset, wc.pretrained),
        weights=lambda wc: [w for w in [pretrained_weights(wc)] if is_weights_file(w)],
        code=lambda wc: model_code(run_of(wc.dataset, wc.pretrained)),
    output:
        checkpoint=str(layout.checkpoint(RESULTS, DATASET, PRETRAINED, SEED)),
        metrics=str(layout.metrics(RESULTS, DATASET, PRETRAINED, SEED)),
    log:
        job_log(layout.seed_dir(RESULTS, DATASET, PRETRAINED, SEED), "pretrained"),
    benchmark:
        job_benchmark(layout.seed_dir(RESULTS, DATASET, PRETRAINED, SEED), "pretrained")
    conda:
        "../../envs/torch.yaml"
    threads: JOBS["pretrained_threads"]
    resources:
        **torch_job(16000, 240, JOBS["pretrained_threads"]),
    params:
        model=lambda wc: run_of(wc.dataset, wc.pretrained)["model"],
        options=lambda wc: as_json(
            run_of(wc.dataset, wc.pretrained).get("model_options", {})
        ),
        weights=lambda wc: as_json(pretrained_weights(wc)),
        device=config["device"],
        batch_size=config["analysis"]["batch_size"],
    shell:
        "python -m repsub pretrained --manifest {input.manifest:q} --model {params.model:q}"
        " --model-options {params.options:q} --weights {params.weights:q}"
        " --checkpoint {output.checkpoint:q} --metrics {output.metrics:q}"
        " --batch-size {params.batch_size:q} --device {params.device:q} --threads {threads:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"
