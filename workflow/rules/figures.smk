rule run_figures:
    input:
        unpack(run_inputs),
        units=rules.run_statistics.output.units,
    output:
        fig1=model_figure("fig1_selectivity_vs_rs", "Figures"),
        fig2=model_figure("fig2_substitutes", "Figures"),
        fig3a=model_figure("fig3a_fc_selectivity_vs_rs", "Figures"),
        ablation=model_figure("ablation_drop_vs_scores", "Ablation"),
        cumulative=model_figure("cumulative_ablation", "Ablation"),
        training=model_figure("training_curves", "Training"),
        pdfs=[f"{FIGURE_DIR}/{name}.pdf" for name in layout.MODEL_FIGURES],
    log:
        f"{RESULTS}/logs/{{dataset}}/{{model}}/figures.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{model}}/figures.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        results=lambda wc, input: Path(input.units).parents[2],
        seeds=rules.run_statistics.params.seeds,
        layers=rules.run_statistics.params.layers,
        methods=METHODS,
        out_dir=lambda wc, output: Path(output.fig1).parent,
    shell:
        "python -m repsub figures --results {params.results:q} --dataset {wildcards.dataset:q} --model {wildcards.model:q}"
        " --seeds {params.seeds:q} --layers {params.layers:q} --methods {params.methods:q}"
        " --units {input.units:q} --out-dir {params.out_dir:q} 2> {log:q}"


rule study_figures:
    input:
        stats=rules.study_statistics.output.stats,
    output:
        fig3b=report(
            f"{RESULTS}/figures/{{dataset}}/fig3b_correlation_vs_depth.png",
            caption="../report/fig3b_correlation_vs_depth.rst",
            category="Figures",
            subcategory="Across models",
            labels={"data": "{dataset}", "figure": "fig3b_correlation_vs_depth"},
        ),
        pdf=f"{RESULTS}/figures/{{dataset}}/fig3b_correlation_vs_depth.pdf",
    log:
        f"{RESULTS}/logs/{{dataset}}/study_figures.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/study_figures.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m repsub study-figures --stats {input.stats:q} --out {output.fig3b:q} 2> {log:q}"
