CHECKPOINT = f"{RESULTS}/{{dataset}}/{{model}}/seed{{seed}}/checkpoint.pt"
MANIFEST = f"{RESULTS}/{{dataset}}/data/manifest.json"
METHOD_DIR = f"{RESULTS}/{{dataset}}/{{model}}/seed{{seed}}/{{layer}}/{{method}}"


rule selectivity:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
    output:
        table=report(
            f"{RESULTS}/{{dataset}}/{{model}}/seed{{seed}}/selectivity.csv",
            caption="../report/selectivity.rst",
            category="Unit tables",
            labels={
                "data": "{dataset}",
                "model": "{model}",
                "seed": "{seed}",
                "table": "selectivity",
            },
        ),
    log:
        f"{RESULTS}/logs/{{dataset}}/{{model}}/seed{{seed}}/selectivity.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{model}}/seed{{seed}}/selectivity.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        split=config["analysis"]["split"],
        batch_size=config["analysis"]["batch_size"],
        device=config["device"],
    shell:
        "python -m repsub selectivity --checkpoint {input.checkpoint} --manifest {input.manifest}"
        " --split {params.split} --batch-size {params.batch_size} --out {output.table}"
        " --device {params.device} --threads {threads} 2> {log}"


rule activation_maximisation:
    input:
        checkpoint=CHECKPOINT,
        manifest=MANIFEST,
    output:
        images=f"{METHOD_DIR}/images.npy",
        units=f"{METHOD_DIR}/units.npy",
        substitution=f"{METHOD_DIR}/substitution.npy",
        trace=f"{METHOD_DIR}/trace.csv",
        rs=report(
            f"{METHOD_DIR}/rs.csv",
            caption="../report/rs.rst",
            category="Unit tables",
            subcategory="{model} {layer}",
            labels={
                "data": "{dataset}",
                "model": "{model}",
                "seed": "{seed}",
                "table": "RS {method}",
            },
        ),
        sheet=report(
            f"{METHOD_DIR}/contact_sheet.png",
            caption="../report/contact_sheet.rst",
            category="AM and IAM images",
            subcategory="{model}",
            labels={
                "data": "{dataset}",
                "seed": "{seed}",
                "layer": "{layer}",
                "method": "{method}",
            },
        ),
    log:
        f"{RESULTS}/logs/{{dataset}}/{{model}}/seed{{seed}}/{{layer}}/{{method}}/am.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{model}}/seed{{seed}}/{{layer}}/{{method}}/am.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        settings=lambda wc: as_json(
            {
                k: v
                for k, v in analysis_of(wc, "am").items()
                if k not in ("methods", "max_units_per_layer")
            }
        ),
        max_units=lambda wc: analysis_of(wc, "am")["max_units_per_layer"] or "all",
        device=config["device"],
    shell:
        "python -m repsub am --checkpoint {input.checkpoint} --manifest {input.manifest}"
        " --layer {wildcards.layer} --method {wildcards.method} --settings '{params.settings}'"
        " --max-units {params.max_units} --images {output.images} --units {output.units}"
        " --substitution {output.substitution} --trace {output.trace} --rs {output.rs}"
        " --sheet {output.sheet} --device {params.device} --threads {threads} 2> {log}"
