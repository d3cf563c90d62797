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
        "python -m repsub selectivity --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --split {params.split:q} --batch-size {params.batch_size:q} --out {output.table:q}"
        " --device {params.device:q} --threads {threads:q} 2> {log:q}"


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
        "python -m repsub am --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --layer {wildcards.layer:q} --method {wildcards.method:q} --settings {params.settings:q}"
        " --max-units {params.max_units:q} --images {output.images:q} --units {output.units:q}"
        " --substitution {output.substitution:q} --trace {output.trace:q} --rs {output.rs:q}"
        " --sheet {output.sheet:q} --device {params.device:q} --threads {threads:q} 2> {log:q}"
