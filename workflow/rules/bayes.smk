# The registered Bayesian models (docs/bayesian_models.md): a joint cumulative-logit model of
# the dimensions and a linear model of the composite, PyMC sampled by nutpie, each a rule of its own.
# Registered in config/prereg.yaml under `bayesian_models:`.

from analysis.prereg.keywords import composite_model_keywords, ordinal_model_keywords

BAYES = PREREG["bayesian_models"]

register_spec_records(["results/{cohort}/bayes/ordinal.spec.json"], analysis_ids=[BAYES["ordinal"]["id"]])
register_spec_records(["results/{cohort}/bayes/composite.spec.json"], analysis_ids=[BAYES["composite"]["id"]])

register_targets(
    [
        "results/{cohort}/bayes/ordinal.nc",
        "results/{cohort}/bayes/ordinal.spec.json",
        "results/{cohort}/bayes/composite.nc",
        "results/{cohort}/bayes/composite.spec.json",
        "results/{cohort}/bayes/effects.csv",
        "results/{cohort}/bayes/contrasts.csv",
        "results/{cohort}/bayes/diagnostics.csv",
        "results/{cohort}/bayes/ppc_proportions.csv",
    ]
    + expand("reports/{{cohort}}/figures/{name}.{ext}", name=["bayes_effects", "bayes_ppc"], ext=["png", "pdf"])
    + expand("reports/{{cohort}}/tables/{name}.{ext}", name=["bayes_effects", "bayes_diagnostics"], ext=["csv", "tex", "md"]),
    kinds=("trial",),
)


# One rule per registered model, each with its own outputs, log, benchmark and resources (one script
# serves both: the rule names its model); the memory request counts the participant effects each model samples.
rule fit_bayes_ordinal:
    input:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("fit_bayes_model"),
    output:
        idata="results/{cohort}/bayes/ordinal.nc",
        spec="results/{cohort}/bayes/ordinal.spec.json",
    params:
        **bayes_fit_params("ordinal", dict(ordinal_model_keywords(BAYES["ordinal"]), dimensions=DIMENSIONS)),
    threads: BAYES["sampler"]["chains"]
    resources:
        mem_mb=bayes_memory("fit_bayes_ordinal", len(DIMENSIONS)),
        runtime=bayes_runtime(len(DIMENSIONS)),
        disk_mb=bayes_disk(len(DIMENSIONS)),
    log:
        log="logs/fit_bayes_ordinal/{cohort}.log",
        diagnostics="logs/fit_bayes_ordinal/{cohort}.diagnostics.csv",
    benchmark:
        "logs/fit_bayes_ordinal/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fit_bayes_model.py"


rule fit_bayes_composite:
    input:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
        code=code("fit_bayes_model"),
    output:
        idata="results/{cohort}/bayes/composite.nc",
        spec="results/{cohort}/bayes/composite.spec.json",
    params:
        **bayes_fit_params("composite", composite_model_keywords(BAYES["composite"])),
    threads: BAYES["sampler"]["chains"]
    resources:
        mem_mb=bayes_memory("fit_bayes_composite", 1),
        runtime=bayes_runtime(1),
        disk_mb=bayes_disk(1),
    log:
        log="logs/fit_bayes_composite/{cohort}.log",
        diagnostics="logs/fit_bayes_composite/{cohort}.diagnostics.csv",
    benchmark:
        "logs/fit_bayes_composite/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fit_bayes_model.py"


rule summarise_bayes_models:
    input:
        ordinal="results/{cohort}/bayes/ordinal.nc",
        composite="results/{cohort}/bayes/composite.nc",
        code=code("summarise_bayes_models"),
    output:
        effects="results/{cohort}/bayes/effects.csv",
        contrasts="results/{cohort}/bayes/contrasts.csv",
        diagnostics="results/{cohort}/bayes/diagnostics.csv",
        ppc="results/{cohort}/bayes/ppc_proportions.csv",
    params:
        dimensions=DIMENSIONS,
        composite=PREREG["outcomes"]["composite"],
        arms=DESIGN["arms"],
        reference_arm=DESIGN["reference_arm"],
        ordinal_gated=BAYES["ordinal"]["gated"],
        composite_gated=BAYES["composite"]["gated"],
        gates=BAYES["diagnostics"],
        hdi_prob=BAYES["hdi_prob"],
    log:
        "logs/summarise_bayes_models/{cohort}.log",
    benchmark:
        "logs/summarise_bayes_models/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/summarise_bayes_models.py"


rule plot_bayes_effects:
    input:
        effects="results/{cohort}/bayes/effects.csv",
        code=code("plot_bayes_effects"),
    output:
        png=report(
            "reports/{cohort}/figures/bayes_effects.png",
            caption="../report/bayes_effects.rst",
            category="Bayesian models",
        ),
        pdf="reports/{cohort}/figures/bayes_effects.pdf",
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_bayes_effects/{cohort}.log",
    benchmark:
        "logs/plot_bayes_effects/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_bayes_effects.py"


rule plot_bayes_ppc:
    input:
        ppc="results/{cohort}/bayes/ppc_proportions.csv",
        code=code("plot_bayes_ppc"),
    output:
        png=report(
            "reports/{cohort}/figures/bayes_ppc.png",
            caption="../report/bayes_ppc.rst",
            category="Bayesian models",
        ),
        pdf="reports/{cohort}/figures/bayes_ppc.pdf",
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/plot_bayes_ppc/{cohort}.log",
    benchmark:
        "logs/plot_bayes_ppc/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_bayes_ppc.py"


rule render_bayes_tables:
    input:
        effects="results/{cohort}/bayes/effects.csv",
        diagnostics="results/{cohort}/bayes/diagnostics.csv",
        code=code("render_bayes_tables"),
    output:
        **{
            f"{name}_{ext}": f"reports/{{cohort}}/tables/{name}.{ext}"
            for name in ("bayes_effects", "bayes_diagnostics")
            for ext in ("csv", "tex", "md")
        },
    params:
        keywords=lambda wildcards: dict(
            arms=DESIGN["arms"],
            reference_arm=DESIGN["reference_arm"],
            gates=BAYES["diagnostics"],
            cohort=wildcards.cohort,
            synthetic=is_synthetic(wildcards),
        ),
    log:
        "logs/render_bayes_tables/{cohort}.log",
    benchmark:
        "logs/render_bayes_tables/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_bayes_tables.py"
