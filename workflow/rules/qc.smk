# Registered exclusions and conversation-level outcomes.


rule apply_exclusions:
    input:
        participants=validated("participants"),
        conversations=validated("conversations"),
        messages=validated("messages"),
        scores=validated("scores"),
        code=code("apply_exclusions"),
    output:
        included="results/{cohort}/qc/included_conversations.csv",
        exclusions="results/{cohort}/qc/exclusions.csv",
        flow="results/{cohort}/qc/flow.csv",
    params:
        rules=PREREG["exclusions"],
        dimensions=DIMENSIONS,
        judges=PREREG["judge_aggregation"].get("judges", "all"),
        conversations_per_participant=DESIGN["conversations_per_participant"],
        arms=DESIGN["arms"],
    log:
        "logs/apply_exclusions/{cohort}.log",
    benchmark:
        "logs/apply_exclusions/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/apply_exclusions.py"


rule derive_outcomes:
    input:
        participants=validated("participants"),
        conversations=validated("conversations"),
        scores=validated("scores"),
        included="results/{cohort}/qc/included_conversations.csv",
        code=code("derive_outcomes"),
    output:
        outcomes="results/{cohort}/outcomes/conversation_scores.csv",
    params:
        dimensions=DIMENSIONS,
        composite=PREREG["outcomes"]["composite"],
        aggregation=PREREG["judge_aggregation"],
        post_conversations=DESIGN["post_conversations"],
    log:
        "logs/derive_outcomes/{cohort}.log",
    benchmark:
        "logs/derive_outcomes/{cohort}.benchmark.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/derive_outcomes.py"
