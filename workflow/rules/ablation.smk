ABLATION = config["analysis"]["ablation"]
LAYER_DIR = f"{RESULTS}/{{dataset}}/{{model}}/seed{{seed}}/{{layer}}"


rule single_unit_ablation:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
    output:
        table=report(
            f"{LAYER_DIR}/ablation.csv",
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
        f"{RESULTS}/logs/{{dataset}}/{{model}}/seed{{seed}}/{{layer}}/ablation.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{model}}/seed{{seed}}/{{layer}}/ablation.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        split=config["analysis"]["split"],
        max_images=lambda wc: analysis_of(wc, "ablation")["max_images"] or "all",
        batch_size=config["analysis"]["batch_size"],
        masks_per_pass=lambda wc: analysis_of(wc, "ablation")["masks_per_pass"],
        device=config["device"],
    shell:
        "python -m repsub ablate --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --layer {wildcards.layer:q} --split {params.split:q} --max-images {params.max_images:q}"
        " --batch-size {params.batch_size:q} --masks-per-pass {params.masks_per_pass:q}"
        " --out {output.table:q} --device {params.device:q} --threads {threads:q} 2> {log:q}"


rule cumulative_ablation:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
        selectivity=rules.selectivity.output.table,
        rs=f"{LAYER_DIR}/iam/rs.csv",
    output:
        table=f"{LAYER_DIR}/cumulative.csv",
    log:
        f"{RESULTS}/logs/{{dataset}}/{{model}}/seed{{seed}}/{{layer}}/cumulative.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{model}}/seed{{seed}}/{{layer}}/cumulative.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        split=config["analysis"]["split"],
        max_images=lambda wc: analysis_of(wc, "ablation")["max_images"] or "all",
        batch_size=config["analysis"]["batch_size"],
        masks_per_pass=lambda wc: analysis_of(wc, "ablation")["masks_per_pass"],
        fractions=ABLATION["fractions"],
        repeats=ABLATION["random_repeats"],
        seed=ABLATION["seed"],
        device=config["device"],
    shell:
        "python -m repsub cumulative --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --layer {wildcards.layer:q} --selectivity {input.selectivity:q} --rs {input.rs:q}"
        " --split {params.split:q} --max-images {params.max_images:q} --batch-size {params.batch_size:q}"
        " --masks-per-pass {params.masks_per_pass:q} --fractions {params.fractions:q}"
        " --random-repeats {params.repeats:q} --seed {params.seed:q}"
        " --out {output.table:q} --device {params.device:q} --threads {threads:q} 2> {log:q}"
