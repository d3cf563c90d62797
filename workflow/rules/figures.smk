rule model_figures:
    input:
        tables=model_tables,
        units=str(layout.model_units(RESULTS, DATASET, MODEL, BASE)),
        manifest=str(layout.manifest(RESULTS, DATASET)),
        traces=am_traces,
    output:
        fig1=model_figure("fig1_selectivity_vs_rs", "Figures"),
        fig2=model_figure("fig2_substitutes", "Figures"),
        fig3a=model_figure("fig3a_fc_selectivity_vs_rs", "Figures"),
        ablation=model_figure("ablation_drop_vs_scores", "Ablation"),
        cumulative=model_figure("cumulative_ablation", "Ablation"),
        training=model_figure("training_curves", "Training"),
        rs_distribution=model_figure("rs_distribution", "Figures"),
        am_convergence=model_figure("am_convergence", "AM and IAM images"),
        pdfs=[
            str(layout.figure(RESULTS, DATASET, MODEL, name, "pdf"))
            for name in layout.MODEL_FIGURES
        ],
    log:
        job_log(layout.model_dir(RESULTS, DATASET, MODEL), "figures"),
    benchmark:
        job_benchmark(layout.model_dir(RESULTS, DATASET, MODEL), "figures")
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(4000, 30),
    params:
        seeds=lambda wc: run_of(wc.dataset, wc.model)["seeds"],
        layers=lambda wc: layers_of(run_of(wc.dataset, wc.model)),
        methods=METHODS,
        out_dir=lambda wc: str(layout.figures_dir(RESULTS, wc.dataset, wc.model)),
    shell:
        "python -m repsub figures --tables {input.tables:q} --manifest {input.manifest:q}"
        " --traces {input.traces:q} --dataset {wildcards.dataset:q} --model {wildcards.model:q}"
        " --seeds {params.seeds:q} --layers {params.layers:q} --methods {params.methods:q}"
        " --units {input.units:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule study_figures:
    input:
        stats=str(layout.study_stats(RESULTS, DATASET, BASE)),
        trajectory=str(layout.study_trajectory(RESULTS, DATASET, BASE)),
    output:
        fig3b=report(
            str(layout.study_figure(RESULTS, DATASET, "fig3b_correlation_vs_depth")),
            caption="../report/fig3b_correlation_vs_depth.rst",
            category="Figures",
            subcategory="Across models",
            labels={"data": "{dataset}", "figure": "fig3b_correlation_vs_depth"},
        ),
        pdf=str(
            layout.study_figure(RESULTS, DATASET, "fig3b_correlation_vs_depth", "pdf")
        ),
        trajectory=report(
            str(layout.study_figure(RESULTS, DATASET, "trajectory")),
            caption="../report/trajectory.rst",
            category="Figures",
            subcategory="Across models",
            labels={"data": "{dataset}", "figure": "r against AM step"},
        ),
        trajectory_pdf=str(layout.study_figure(RESULTS, DATASET, "trajectory", "pdf")),
    log:
        job_log(layout.study_dir(RESULTS, DATASET, BASE), "study_figures"),
    benchmark:
        job_benchmark(layout.study_dir(RESULTS, DATASET, BASE), "study_figures")
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(2000, 10),
    shell:
        "python -m repsub study-figures --stats {input.stats:q} --out {output.fig3b:q}"
        " --trajectory {input.trajectory:q} --trajectory-figure {output.trajectory:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"
