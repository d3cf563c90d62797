rule train:
    input:
        manifest=rules.prepare_data.output.manifest,
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/{{trainable}}/seed{{seed}}/checkpoint.pt",
        metrics=report(
            f"{RESULTS}/{{dataset}}/{{trainable}}/seed{{seed}}/metrics.csv",
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
        f"{RESULTS}/logs/{{dataset}}/{{trainable}}/seed{{seed}}/train.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{trainable}}/seed{{seed}}/train.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        train=lambda wc: as_json(run_of(wc.dataset, wc.trainable)["train"]),
        options=lambda wc: as_json(
            run_of(wc.dataset, wc.trainable).get("model_options", {})
        ),
        device=config["device"],
    shell:
        "python -m repsub train --manifest {input.manifest:q} --model {wildcards.trainable:q}"
        " --seed {wildcards.seed:q} --params {params.train:q} --model-options {params.options:q}"
        " --checkpoint {output.checkpoint:q} --metrics {output.metrics:q}"
        " --device {params.device:q} --threads {threads:q} 2> {log:q}"


rule pretrained_checkpoint:
    input:
        manifest=rules.prepare_data.output.manifest,
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/vgg16_imagenet/seed{{seed}}/checkpoint.pt",
        metrics=f"{RESULTS}/{{dataset}}/vgg16_imagenet/seed{{seed}}/metrics.csv",
    log:
        f"{RESULTS}/logs/{{dataset}}/vgg16_imagenet/seed{{seed}}/pretrained.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/vgg16_imagenet/seed{{seed}}/pretrained.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 4
    resources:
        mem_mb=16000,
        runtime=240,
    params:
        weights=lambda wc: as_json(
            run_of(wc.dataset, "vgg16_imagenet")
            .get("model_options", {})
            .get("weights")
        ),
        device=config["device"],
        batch_size=config["analysis"]["batch_size"],
    shell:
        "python -m repsub pretrained --manifest {input.manifest:q} --weights {params.weights:q}"
        " --checkpoint {output.checkpoint:q} --metrics {output.metrics:q}"
        " --batch-size {params.batch_size:q} --device {params.device:q} --threads {threads:q} 2> {log:q}"
