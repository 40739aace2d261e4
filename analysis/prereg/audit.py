"""The pre-registration audit: compare what the analysis rules executed with the registered plan.

Every analysis rule writes a spec record (:mod:`analysis.prereg.specs`) describing what it actually ran.
The audit reads the plan (``config/prereg.yaml``), its lock (:mod:`analysis.prereg.lock`), the
spec records of one cohort, the cohort's CONSORT flow and the primary coefficients, and reports

* every registered analysis (a plan section carrying an ``id``) with its status (run, not run, not
  applicable to this kind of cohort) and a field-by-field comparison of plan and record;
* every registered hypothesis with the test that addressed it (the primary analysis' coefficient of
  the hypothesis' term for each of its outcomes), the result and whether it was run as registered;
* every deviation, with its kind and severity, marked *declared* when the run configuration's
  ``deviations:`` list declares it (with a written reason) and *undeclared* otherwise.

The comparison is generic: a field is compared only where both the plan section and the record
have it, so new analysis families are audited as soon as they register their spec records.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.constants import SCENARIO_TROUBLE_TYPE, TROUBLE_TYPES
from analysis.errors import ConfigError, PipelineError

__all__ = [
    "DEVIATION_KINDS", "SEVERITY_ORDER", "PLAN_ID", "RULE_WORDS", "NON_ANALYSIS_SECTIONS", "INTERCEPT_NAMES", "AuditError",
    "RegisteredAnalysis", "registered_analyses", "formula_terms", "factor_levels", "term_covers", "compare_terms",
    "compare_record", "flow_counts", "assess_hypotheses", "match_declarations", "run_audit", "undeclared_deviations",
    "failure_message", "render_markdown",
]

# Kinds of deviation the audit detects, with their severity and what they mean.
DEVIATION_KINDS: dict[str, tuple[str, str]] = {
    "analysis_not_run": ("major", "a registered analysis has no spec record: it was not run"),
    "outcomes_changed": ("major", "the outcomes analysed differ from the registered ones"),
    "terms_changed": ("major", "the model terms (covariates, reference arm) differ from the registered model"),
    "exclusions_changed": ("major", "the exclusion rules applied differ from the registered ones"),
    "estimator_changed": ("major", "the estimator differs from the registered one"),
    "covariance_changed": ("moderate", "the covariance of the estimates differs from the registered one"),
    "multiplicity_changed": ("moderate", "the multiplicity family or correction differs from the registered one"),
    "alpha_changed": ("moderate", "the significance level differs from the registered one"),
    "judge_aggregation_changed": ("moderate", "the judges or their aggregation differ from the registered ones"),
    "sample_mismatch": ("major", "the sample analysed differs from the sample left after the registered exclusions"),
    "seed_changed": ("minor", "the random seed differs from the registered one"),
    "sampler_changed": ("moderate", "the MCMC sampler settings (engine, chains, draws, thinning, tuning, ...) differ from the registered ones"),
    "hypothesis_not_tested": ("major", "a registered hypothesis has no test result for one of its outcomes"),
    "unregistered_confirmatory": ("major", "an analysis not registered as confirmatory is presented as confirmatory"),
    "plan_amended": ("major", "the plan no longer matches its lock: it was amended after registration"),
}
SEVERITY_ORDER = ("major", "moderate", "minor")
PLAN_ID = "prereg"
# what each registered decision rule means, in the audit's and the report's words
RULE_WORDS = {
    "all": "supported when every outcome is significant in its registered direction, partly supported when some are",
    "any": "supported when at least one outcome is significant in its registered direction",
    "composite_only": "the composite alone decides; the dimensions are reported as support",
}
NON_ANALYSIS_SECTIONS = frozenset({"title", "registration", "design", "outcomes", "judge_aggregation", "exclusions", "hypotheses", "amendments"})
INTERCEPT_NAMES = frozenset({"intercept", "const", "(intercept)"})
_LEVEL_SEPARATORS = ("[", "_", "=", ".", "(")


class AuditError(PipelineError):
    """The audit found deviations from the registered plan that the run configuration does not declare."""


@dataclass(frozen=True)
class RegisteredAnalysis:
    """One analysis registered in the plan.

    Attributes
    ----------
    analysis_id : str
        The section's ``id``.
    section : str
        Where it is registered (dotted path in the plan, e.g. ``primary_analysis``).
    confirmatory : bool
        The section's ``confirmatory`` flag (False when the section does not set it).
    plan : dict
        The section itself.
    """

    analysis_id: str
    section: str
    confirmatory: bool
    plan: dict


def registered_analyses(plan: Mapping) -> list[RegisteredAnalysis]:
    """Every analysis the plan registers: each mapping with an ``id`` outside the design sections.

    Sections are searched to any depth (a family may register several analyses in one section,
    as a mapping of mappings or a list of mappings); ``title``, ``registration``, ``design``,
    ``outcomes``, ``judge_aggregation``, ``exclusions`` and ``hypotheses`` hold no analyses.

    Raises
    ------
    ConfigError
        When two registered analyses share an ID.
    """
    found: list[RegisteredAnalysis] = []

    def visit(value, path: str) -> None:
        if isinstance(value, Mapping):
            if isinstance(value.get("id"), str):
                found.append(RegisteredAnalysis(value["id"], path, bool(value.get("confirmatory", False)), dict(value)))
            for key, child in value.items():
                visit(child, f"{path}.{key}")
        elif isinstance(value, list):
            for index, child in enumerate(value):
                visit(child, f"{path}[{index}]")

    for name, section in plan.items():
        if name not in NON_ANALYSIS_SECTIONS:
            visit(section, name)
    ids = [analysis.analysis_id for analysis in found]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ConfigError(f"the plan registers the analysis IDs {duplicated} more than once; every analysis needs its own id")
    return found


def formula_terms(section: Mapping) -> list[str] | None:
    """The registered fixed-effect terms of a section, from ``terms`` or a ``formula`` string.

    ``a * b`` expands to ``a``, ``b`` and ``a:b``; random-effect parts such as ``(1 | participant)``
    and the intercept (``1``) are dropped. Returns None when the section registers no terms.
    """
    if isinstance(section.get("terms"), list):
        raw = [str(term) for term in section["terms"]]
    elif isinstance(section.get("formula"), str):
        right = section["formula"].split("~", 1)[-1]
        right = re.sub(r"\([^()]*\|[^()]*\)", "", right)
        raw = [part.strip() for part in right.split("+")]
    else:
        return None
    terms: list[str] = []
    for term in raw:
        if not term or term in ("1", "0"):
            continue
        factors = [factor.strip() for factor in term.split("*")]
        if len(factors) == 1:
            terms.append(term.replace(" ", ""))
            continue
        for size in range(1, len(factors) + 1):
            for start in range(len(factors) - size + 1):
                terms.append(":".join(factors[start : start + size]))
    return list(dict.fromkeys(terms))


def factor_levels(plan: Mapping) -> dict[str, set[str]]:
    """Known levels of the design factors, used to recognise fitted coefficient names."""
    return {
        "arm": set(plan["design"]["arms"]),
        "scenario": set(SCENARIO_TROUBLE_TYPE),
        "trouble_type": set(TROUBLE_TYPES),
    }


def _normalise_fitted(part: str) -> str:
    part = part.strip()
    match = re.fullmatch(r"C\(([^,()]+)(?:,[^()]*(?:\([^()]*\))?[^()]*)?\)(.*)", part)
    return f"{match.group(1).strip()}{match.group(2)}" if match else part


def _part_matches(planned: str, fitted: str, levels: Mapping[str, set[str]]) -> bool:
    fitted = _normalise_fitted(fitted)
    if fitted == planned or fitted.endswith((f"[T.{planned}]", f"[{planned}]")):
        return True
    if fitted in levels.get(planned, ()):
        return True
    return any(fitted.startswith(planned + separator) for separator in _LEVEL_SEPARATORS)


def term_covers(planned: str, fitted: str, levels: Mapping[str, set[str]]) -> bool:
    """Whether fitted coefficient ``fitted`` belongs to registered formula term ``planned``.

    Interactions match part by part; a part matches its factor's name, one of its known levels
    (``coach`` for ``arm``) or a level-coded name (``scenario[T.job_loss]``, ``C(arm)[T.coach]``).
    """
    planned_parts = planned.split(":")
    fitted_parts = fitted.split(":")
    if len(planned_parts) != len(fitted_parts):
        return False
    return all(_part_matches(p, f, levels) for p, f in zip(planned_parts, fitted_parts))


def _required_coefficients(planned: str, required: Mapping[str, Sequence[str]]) -> list[str]:
    """The coefficients a registered term must produce: one per level of each factor with registered levels."""
    expansions = [""]
    for part in planned.split(":"):
        options = list(required.get(part, [part]))
        expansions = [f"{prefix}:{option}" if prefix else option for prefix in expansions for option in options]
    return expansions


def compare_terms(
    planned: Sequence[str],
    fitted: Sequence[str],
    levels: Mapping[str, set[str]],
    required: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[str], list[str]]:
    """Registered terms (or their required coefficients) that were not fitted, and fitted
    coefficients that no registered term covers.

    ``required`` maps a factor to the levels every term with it must produce coefficients for (the
    non-reference arms: ``arm:post`` needs ``video:post``, ``coach:post`` and ``combined:post``).
    """
    required = required or {}
    fitted = [term for term in fitted if term.strip().lower() not in INTERCEPT_NAMES]
    missing = []
    for p in planned:
        for coefficient in _required_coefficients(p, required):
            if not any(term_covers(coefficient, f, levels) for f in fitted):
                missing.append(coefficient)
    added = [f for f in fitted if not any(term_covers(p, f, levels) for p in planned)]
    return missing, added


def _as_mapping(value, key: str = "type") -> dict | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    return {key: value}


def _normalise_value(value):
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, (list, tuple)):
        return sorted(_normalise_value(item) for item in value)
    return value


def _differing_keys(planned: Mapping, executed: Mapping) -> list[str]:
    return sorted(k for k in set(planned) & set(executed) if _normalise_value(planned[k]) != _normalise_value(executed[k]))


def _find_key(section: Mapping, key: str, depth: int = 1):
    if key in section:
        return section[key]
    if depth > 0:
        for child in section.values():
            if isinstance(child, Mapping):
                found = _find_key(child, key, depth - 1)
                if found is not None:
                    return found
    return None


def _inherited(plan: Mapping, path: str, key: str):
    """``key`` of the section at dotted ``path`` or, failing that, of its nearest enclosing section
    (e.g. ``bayesian_models.sampler`` for ``bayesian_models.ordinal``)."""
    sections: list = [plan]
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        current = sections[-1]
        if part.startswith("["):
            index = int(part[1:-1])
            step = current[index] if isinstance(current, list) and index < len(current) else None
        else:
            step = current.get(part) if isinstance(current, Mapping) else None
        if step is None:
            break
        sections.append(step)
    for section in reversed(sections[1:]):
        if isinstance(section, Mapping) and key in section:
            return section[key]
    return None


def _deviation(kind: str, analysis_id: str, field: str, planned, executed, message: str) -> dict:
    severity, _ = DEVIATION_KINDS[kind]
    return {
        "kind": kind,
        "severity": severity,
        "analysis_id": analysis_id,
        "field": field,
        "planned": planned,
        "executed": executed,
        "message": message,
    }


def compare_record(
    analysis: RegisteredAnalysis,
    record: Mapping,
    plan: Mapping,
    flow_counts: Mapping[str, int] | None,
) -> tuple[list[dict], list[dict]]:
    """Compare one spec record with its registered section.

    Parameters
    ----------
    analysis : RegisteredAnalysis
        The registered analysis.
    record : mapping
        Its spec record.
    plan : mapping
        The whole plan (for plan-level exclusions, judge aggregation, design).
    flow_counts : mapping or None
        Analysed ``n_participants`` and ``n_conversations`` from the cohort's flow.csv (None for
        cohorts without a flow, e.g. rating studies).

    Returns
    -------
    checks : list of dict
        One per compared field: field, planned, executed, matches.
    deviations : list of dict
        One per difference (see :data:`DEVIATION_KINDS`).
    """
    section = analysis.plan
    aid = analysis.analysis_id
    checks: list[dict] = []
    deviations: list[dict] = []

    def check(field: str, planned, executed, matches: bool, kind: str, message: str) -> None:
        checks.append({"field": field, "planned": planned, "executed": executed, "matches": matches})
        if not matches:
            deviations.append(_deviation(kind, aid, field, planned, executed, message))

    if isinstance(section.get("estimator"), str) and record.get("estimator"):
        planned, executed = section["estimator"], record["estimator"]
        check("estimator", planned, executed, _normalise_value(planned) == _normalise_value(executed), "estimator_changed",
              f"registered estimator {planned!r}, executed {executed!r}")

    if isinstance(section.get("outcomes"), list) and record.get("outcomes"):
        planned, executed = list(section["outcomes"]), list(record["outcomes"])
        dropped = [o for o in planned if o not in executed]
        added = [o for o in executed if o not in planned]
        check("outcomes", planned, executed, not dropped and not added, "outcomes_changed",
              f"outcomes not analysed: {dropped or 'none'}; outcomes not registered: {added or 'none'}")

    planned_terms = formula_terms(section)
    if planned_terms is not None and record.get("terms"):
        design = plan["design"]
        non_reference = [arm for arm in design["arms"] if arm != design["reference_arm"]]
        missing, added = compare_terms(planned_terms, record["terms"], factor_levels(plan), {"arm": non_reference})
        check("terms", planned_terms, list(record["terms"]), not missing and not added, "terms_changed",
              f"registered terms without a fitted coefficient: {missing or 'none'}; "
              f"fitted terms not registered: {added or 'none'}")

    reference_arm = plan["design"]["reference_arm"]
    if record.get("reference_arm"):
        check("reference_arm", reference_arm, record["reference_arm"], record["reference_arm"] == reference_arm,
              "terms_changed", f"registered reference arm {reference_arm!r}, executed {record['reference_arm']!r}")

    planned_cov, executed_cov = _as_mapping(section.get("covariance")), _as_mapping(record.get("covariance"))
    if planned_cov and executed_cov:
        differing = _differing_keys(planned_cov, executed_cov)
        shared = {k: planned_cov[k] for k in sorted(set(planned_cov) & set(executed_cov))}
        check("covariance", shared, {k: executed_cov[k] for k in shared}, not differing, "covariance_changed",
              f"covariance differs in {differing}")

    planned_mult = _as_mapping(section.get("multiplicity") or section.get("contrasts"), key="method")
    executed_mult = _as_mapping(record.get("multiplicity"), key="method")
    if planned_mult and executed_mult:
        shared_keys = sorted((set(planned_mult) & set(executed_mult)) - {"id"})
        differing = [k for k in _differing_keys(planned_mult, executed_mult) if k in shared_keys]
        check("multiplicity", {k: planned_mult[k] for k in shared_keys}, {k: executed_mult[k] for k in shared_keys},
              not differing, "multiplicity_changed", f"multiplicity differs in {differing}")

    if isinstance(section.get("alpha"), (int, float)) and isinstance(record.get("alpha"), (int, float)):
        planned, executed = float(section["alpha"]), float(record["alpha"])
        check("alpha", planned, executed, math.isclose(planned, executed, rel_tol=0, abs_tol=1e-12), "alpha_changed",
              f"registered alpha {planned}, executed {executed}")

    planned_exclusions = section.get("exclusions")
    if not isinstance(planned_exclusions, list):
        planned_exclusions = [rule["id"] for rule in plan.get("exclusions", [])]
    executed_exclusions = record.get("exclusions") or []
    if executed_exclusions or isinstance(section.get("exclusions"), list):
        check("exclusions", list(planned_exclusions), list(executed_exclusions),
              list(planned_exclusions) == list(executed_exclusions), "exclusions_changed",
              f"registered exclusion rules {list(planned_exclusions)}, applied {list(executed_exclusions)}")

    # An analysis that registers its own judges (e.g. a per-judge sensitivity analysis) is not held to
    # the plan-level aggregation; the others are.
    own_judges = any(key in section for key in ("judges", "judge"))
    planned_judges = _as_mapping(section.get("judge_aggregation") or (None if own_judges else plan.get("judge_aggregation")), key="method")
    executed_judges = _as_mapping(record.get("judge_aggregation"), key="method")
    if planned_judges and executed_judges:
        differing = _differing_keys(planned_judges, executed_judges)
        shared = sorted(set(planned_judges) & set(executed_judges))
        check("judge_aggregation", {k: planned_judges[k] for k in shared}, {k: executed_judges[k] for k in shared},
              not differing, "judge_aggregation_changed", f"judge aggregation differs in {differing}")

    planned_sampler = _inherited(plan, analysis.section, "sampler")
    executed_sampler = (record.get("details") or {}).get("sampler")
    if isinstance(planned_sampler, Mapping) and isinstance(executed_sampler, Mapping):
        settings = {k: v for k, v in planned_sampler.items() if k != "seed"}
        differing = _differing_keys(settings, executed_sampler)
        shared = sorted(set(settings) & set(executed_sampler))
        check("sampler", {k: settings[k] for k in shared}, {k: executed_sampler[k] for k in shared}, not differing,
              "sampler_changed", f"sampler settings differ in {differing}")

    planned_seed = _find_key(section, "seed")
    if planned_seed is None and isinstance(planned_sampler, Mapping):
        planned_seed = planned_sampler.get("seed")
    if isinstance(planned_seed, int) and isinstance(record.get("seed"), int):
        check("seed", planned_seed, record["seed"], planned_seed == record["seed"], "seed_changed",
              f"registered seed {planned_seed}, executed {record['seed']}")

    sample = record.get("sample") or {}
    if flow_counts is not None:
        subset = sample.get("subset")
        counted = {"n_participants": "n_participants", "n_conversations": "n_conversations"}
        if sample.get("unit") == "conversation":
            counted["n_obs"] = "n_conversations"
        for key, flow_key in counted.items():
            if not isinstance(sample.get(key), int):
                continue
            expected, executed = flow_counts[flow_key], sample[key]
            matches = executed <= expected if subset else executed == expected
            what = f"at most {expected} (registered subset: {subset})" if subset else f"{expected}"
            check(f"sample.{key}", what, executed, matches, "sample_mismatch",
                  f"{key} = {executed}, but the registered exclusions leave {expected} (qc/flow.csv)")
    return checks, deviations


def flow_counts(flow: pd.DataFrame) -> dict[str, int]:
    """Analysed participants and conversations over all arms, from a flow.csv table."""
    analysed = flow[(flow["arm"] == "all") & (flow["stage"] == "analysed")]
    if len(analysed) != 1:
        raise PipelineError("flow.csv has no single row with arm 'all' and stage 'analysed'")
    row = analysed.iloc[0]
    return {"n_participants": int(row["n_participants"]), "n_conversations": int(row["n_conversations"])}


def assess_hypotheses(
    plan: Mapping,
    hypothesis_tests: pd.DataFrame | None,
    primary_status: str,
    primary_deviations: Sequence[dict],
) -> tuple[list[dict], list[dict]]:
    """Each registered hypothesis with its registered decision, read from hypothesis_tests.csv.

    The decision itself is made once, by the primary analysis (:func:`analysis.models.did.hypothesis_tests`:
    the registered outcome family, correction, sidedness and rule); the audit reports it and checks
    that every registered outcome was tested. A hypothesis was *run as registered* when the primary
    analysis ran without any deviation (declared or not) and every outcome was tested.

    Parameters
    ----------
    plan : mapping
        The registered plan.
    hypothesis_tests : pandas.DataFrame or None
        The primary analysis' ``hypothesis_tests.csv`` (None when the cohort has none).
    primary_status : str
        The primary analysis' audit status (``run``, ``not run``, ``not applicable``).
    primary_deviations : sequence of dict
        The primary analysis' deviations.

    Returns
    -------
    hypotheses : list of dict
        One per hypothesis (id, description, term, confirmatory, analysis_id, status, verdict,
        run_as_registered, alpha, correction, sided, rule, tests: one dict per outcome with
        outcome, registered_direction, tested, decides, family, estimate, std_error, ci_low,
        ci_high, p_value, p_adjusted, observed_direction, direction_as_registered, significant).
    deviations : list of dict
        ``hypothesis_not_tested`` for registered outcomes without a test row.
    """
    primary = plan["primary_analysis"]
    alpha = float(primary.get("alpha", 0.05))
    results, deviations = [], []
    for hypothesis in plan.get("hypotheses", []):
        outcomes = list(hypothesis.get("outcomes") or hypothesis["direction"])
        entry = {
            "id": hypothesis["id"],
            "description": hypothesis["description"],
            "term": hypothesis["term"],
            "confirmatory": bool(hypothesis.get("confirmatory", True)),
            "analysis_id": primary["id"],
            "correction": hypothesis.get("correction", "holm"),
            "sided": hypothesis.get("sided", "two-sided"),
            "rule": hypothesis.get("rule", "all"),
            "tests": [],
        }
        if primary_status != "run" or hypothesis_tests is None:
            entry.update(status=f"not tested (primary analysis {primary_status})", verdict="not tested", run_as_registered=False)
            results.append(entry)
            continue
        own = hypothesis_tests[hypothesis_tests["hypothesis"] == hypothesis["id"]]
        tests = own[own["row"] == "test"].set_index("outcome")
        verdicts = own.loc[own["row"] == "verdict", "verdict"]
        missing = []
        for outcome in outcomes:
            direction = hypothesis["direction"][outcome]
            if outcome not in tests.index:
                missing.append(outcome)
                entry["tests"].append({"outcome": outcome, "registered_direction": direction, "tested": False})
                continue
            row = tests.loc[outcome]
            estimate = float(row["estimate"])
            observed = "increase" if estimate > 0 else "decrease" if estimate < 0 else "none"
            entry["tests"].append(
                {
                    "outcome": outcome,
                    "registered_direction": direction,
                    "tested": True,
                    "decides": _flag(row["decides"]),
                    "family": str(row["family"]),
                    "estimate": estimate,
                    "std_error": float(row["std_error"]),
                    "ci_low": float(row["ci_low"]),
                    "ci_high": float(row["ci_high"]),
                    "p_value": float(row["p_value"]),
                    "p_adjusted": float(row["p_adjusted"]),
                    "observed_direction": observed,
                    "direction_as_registered": _flag(row["direction_held"]),
                    "significant": _flag(row["significant"]),
                }
            )
        for outcome in missing:
            deviations.append(
                _deviation("hypothesis_not_tested", hypothesis["id"], f"{outcome}:{hypothesis['term']}", "tested", "no test",
                           f"hypothesis {hypothesis['id']}: hypothesis_tests.csv has no test of {hypothesis['term']!r} for {outcome!r}")
            )
        if missing or len(verdicts) != 1:
            verdict = "not decided (registered outcomes untested)"
        else:
            verdict = str(verdicts.iloc[0])
        entry.update(
            status="tested" if not missing else "partly tested",
            verdict=verdict,
            run_as_registered=not missing and not primary_deviations,
            alpha=alpha,
        )
        results.append(entry)
    return results, deviations


def _flag(value) -> bool:
    """A boolean cell of a CSV read back (True/False or the text of one)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def match_declarations(deviations: list[dict], declared: Sequence[Mapping]) -> list[dict]:
    """Mark deviations declared in the run configuration; return the declarations that match none.

    A declaration ``{id, kind, analysis_id, reason}`` covers every deviation of its kind for its
    analysis (``analysis_id`` null or ``*`` covers every analysis; hypotheses use their ID, plan
    amendments ``prereg``).
    """
    used = set()
    for deviation in deviations:
        deviation.update(declared=False, declaration_id=None, reason=None)
        for declaration in declared:
            target = declaration.get("analysis_id")
            if declaration["kind"] == deviation["kind"] and target in (None, "*", deviation["analysis_id"]):
                deviation.update(declared=True, declaration_id=declaration["id"], reason=declaration["reason"])
                used.add(declaration["id"])
                break
    return [dict(declaration) for declaration in declared if declaration["id"] not in used]


def run_audit(
    plan: Mapping,
    records: Mapping[str, Mapping],
    cohort: str,
    lock: Mapping,
    declared: Sequence[Mapping] = (),
    flow: pd.DataFrame | None = None,
    hypothesis_tests: pd.DataFrame | None = None,
    not_applicable: Mapping[str, str] | None = None,
    input_unavailable: Mapping[str, str] | None = None,
    unverified_files: Sequence[str] | None = None,
) -> dict:
    """Audit one cohort's run against the registered plan.

    Parameters
    ----------
    plan : mapping
        The registered plan.
    records : mapping of str to mapping
        Spec records by the path they were read from.
    cohort : str
        Cohort name.
    lock : mapping
        The plan's lock status (:func:`analysis.prereg.lock.lock_status`).
    declared : sequence of mapping
        The run configuration's ``deviations:`` (id, kind, analysis_id, reason).
    flow : pandas.DataFrame, optional
        The cohort's qc/flow.csv (trial cohorts).
    hypothesis_tests : pandas.DataFrame, optional
        The primary analysis' hypothesis_tests.csv (trial cohorts): the registered decisions.
    not_applicable : mapping of str to str, optional
        IDs of registered analyses the workflow does not run for this kind of cohort, with why.
        A registered analysis without a record that is not listed here was not run: a deviation.
    input_unavailable : mapping of str to str, optional
        IDs of registered analyses not run because an optional input the cohort was meant to have
        could not be had (an optional release file that could not be mapped), with why: reported as
        "not run: input unavailable", not as a deviation.
    unverified_files : sequence of str, optional
        Input files imported without checking them against their published checksums (a copy that
        is not the authors'): the audit then says "unverified copy" and lists them.

    Returns
    -------
    dict
        JSON-ready audit: cohort, plan (lock status), analyses, unregistered_analyses,
        hypotheses, deviations, unmatched_declarations and summary (see docs/preregistration.md).
    """
    not_applicable = dict(not_applicable or {})
    input_unavailable = dict(input_unavailable or {})
    registered = registered_analyses(plan)
    counts = flow_counts(flow) if flow is not None else None
    by_id: dict[str, list[tuple[str, Mapping]]] = {}
    for path in sorted(records):
        by_id.setdefault(records[path]["analysis_id"], []).append((path, records[path]))

    analyses, deviations = [], []
    if lock["status"] == "amended":
        deviations.append(
            _deviation("plan_amended", PLAN_ID, "sha256", lock["locked_sha256"], lock["sha256"],
                       f"the plan's sha256 {lock['sha256'][:12]}... differs from the lock of {lock['locked_on']} "
                       f"({lock['locked_sha256'][:12]}...): the plan was amended after it was locked")
        )
    status_of = {}
    for analysis in registered:
        entry = {
            "analysis_id": analysis.analysis_id,
            "section": analysis.section,
            "confirmatory": analysis.confirmatory,
            "records": [],
        }
        found = by_id.get(analysis.analysis_id, [])
        if found:
            entry["status"] = "run"
            for path, record in found:
                checks, found_deviations = compare_record(analysis, record, plan, counts)
                if record.get("confirmatory") and not analysis.confirmatory:
                    found_deviations.append(
                        _deviation("unregistered_confirmatory", analysis.analysis_id, "confirmatory", False, True,
                                   f"{analysis.analysis_id} is registered as exploratory but presented as confirmatory ({path})")
                    )
                entry["records"].append({"path": path, "family": record.get("family"), "checks": checks})
                deviations.extend(found_deviations)
        elif analysis.analysis_id in input_unavailable:
            entry["status"] = "not run: input unavailable"
            entry["reason"] = input_unavailable[analysis.analysis_id]
        elif analysis.analysis_id in not_applicable:
            entry["status"] = "not applicable"
            entry["reason"] = not_applicable[analysis.analysis_id]
        else:
            entry["status"] = "not run"
            deviations.append(
                _deviation("analysis_not_run", analysis.analysis_id, "spec record", "run", "no spec record",
                           f"registered analysis {analysis.analysis_id} ({analysis.section}) has no spec record for cohort {cohort}")
            )
        status_of[analysis.analysis_id] = entry["status"]
        analyses.append(entry)

    registered_ids = {analysis.analysis_id for analysis in registered}
    unregistered = []
    for analysis_id in sorted(set(by_id) - registered_ids):
        for path, record in by_id[analysis_id]:
            unregistered.append({"analysis_id": analysis_id, "path": path, "family": record.get("family"),
                                 "confirmatory": bool(record.get("confirmatory"))})
            if record.get("confirmatory"):
                deviations.append(
                    _deviation("unregistered_confirmatory", analysis_id, "confirmatory", "not registered", True,
                               f"{analysis_id} is not registered in the plan but its record presents it as confirmatory ({path})")
                )

    primary_id = plan["primary_analysis"]["id"]
    primary_deviations = [d for d in deviations if d["analysis_id"] == primary_id]
    hypotheses, hypothesis_deviations = assess_hypotheses(plan, hypothesis_tests, status_of.get(primary_id, "not run"), primary_deviations)
    deviations.extend(hypothesis_deviations)

    order = {analysis.analysis_id: index for index, analysis in enumerate(registered)}
    deviations.sort(key=lambda d: (d["analysis_id"] != PLAN_ID, order.get(d["analysis_id"], len(order)), d["analysis_id"],
                                   d["kind"], d["field"]))
    unmatched = match_declarations(deviations, declared)
    undeclared = [d for d in deviations if not d["declared"]]
    return {
        "cohort": cohort,
        "data": {"verified": not unverified_files, "unverified_files": sorted(unverified_files or [])},
        "plan": {"title": plan.get("title"), "registration": plan.get("registration"),
                 "amendments": [dict(amendment) for amendment in plan.get("amendments", [])], **dict(lock)},
        "analyses": analyses,
        "unregistered_analyses": unregistered,
        "hypotheses": hypotheses,
        "deviations": deviations,
        "unmatched_declarations": unmatched,
        "summary": {
            "n_registered": len(registered),
            "n_run": sum(entry["status"] == "run" for entry in analyses),
            "n_deviations": len(deviations),
            "n_declared": len(deviations) - len(undeclared),
            "n_undeclared": len(undeclared),
            "passed": not undeclared,
        },
    }


def undeclared_deviations(audit: Mapping) -> list[dict]:
    """The audit's deviations that the run configuration does not declare."""
    return [d for d in audit["deviations"] if not d["declared"]]


def failure_message(audit: Mapping) -> str:
    """One message listing every undeclared deviation and how to declare it."""
    lines = [
        f"{d['severity']} {d['kind']} in {d['analysis_id']} ({d['field']}): {d['message']}" for d in undeclared_deviations(audit)
    ]
    return (
        f"cohort {audit['cohort']}: {len(lines)} undeclared deviation(s) from the registered plan:\n  "
        + "\n  ".join(lines)
        + "\nFix the analysis, or declare each under `deviations:` in the run configuration "
        "({id, kind, analysis_id, reason}); see docs/preregistration.md."
    )


def _cell(value) -> str:
    """A value as one Markdown table cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.3f}" if value == 0 or abs(value) >= 0.001 else f"{value:.2e}"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{key}: {item}" for key, item in value.items())
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(item) for item in value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(audit: Mapping) -> str:
    """The audit as a Markdown report (reports/NAME/prereg_audit.md)."""
    summary = audit["summary"]
    plan = audit["plan"]
    verdict = "PASSED (no undeclared deviation)" if summary["passed"] else f"FAILED ({summary['n_undeclared']} undeclared deviation(s))"
    lines = [
        f"# Pre-registration audit: cohort {audit['cohort']}",
        "",
        f"**{verdict}.** {summary['n_run']} of {summary['n_registered']} registered analyses run; "
        f"{summary['n_deviations']} deviation(s), {summary['n_declared']} declared.",
        "",
        "## The plan",
        "",
        f"- Title: {plan.get('title')}",
        f"- Registration: {_cell((plan.get('registration') or {}))}",
        f"- Plan sha256: `{plan['sha256']}`",
    ]
    if plan["status"] == "unlocked":
        lines.append("- Lock: the plan is not locked (run `make prereg-lock` to lock it).")
    else:
        lines.append(f"- Lock: locked on {plan['locked_on']} (sha256 `{plan['locked_sha256']}`): "
                     + ("the plan matches its lock." if plan["status"] == "matches" else "**the plan was amended after locking.**"))
    amendments = plan.get("amendments") or []
    if amendments:
        lines += ["", "### Registered amendments", "", "| date | sections | reason |", "|---|---|---|"]
        lines += [f"| {_cell(a['date'])} | {_cell(a['sections'])} | {_cell(a['reason'])} |" for a in amendments]
    unverified = audit.get("data", {}).get("unverified_files")
    if unverified:
        lines.append(f"- Data: **unverified copy**: not checked against the published checksums: {', '.join(unverified)}.")
    lines += ["", "## Registered analyses", "", "| analysis | section | confirmatory | status | fields compared | differing |",
              "|---|---|---|---|---|---|"]
    for entry in audit["analyses"]:
        checks = [check for record in entry["records"] for check in record["checks"]]
        differing = [check["field"] for check in checks if not check["matches"]]
        status = entry["status"] + (f" ({entry['reason']})" if entry.get("reason") else "")
        lines.append(f"| {entry['analysis_id']} | {entry['section']} | {'yes' if entry['confirmatory'] else 'no'} | {status} | "
                     f"{', '.join(check['field'] for check in checks) or '-'} | {', '.join(differing) or '-'} |")
    if audit["unregistered_analyses"]:
        lines += ["", "Analyses not in the plan:", ""]
        for entry in audit["unregistered_analyses"]:
            lines.append(f"- {entry['analysis_id']} ({entry['path']}): presented as "
                         f"{'confirmatory' if entry['confirmatory'] else 'exploratory'}")
    lines += ["", "## Hypotheses", ""]
    for hypothesis in audit["hypotheses"]:
        lines += [
            f"### {hypothesis['id']}: {hypothesis['verdict']}",
            "",
            f"{hypothesis['description']} Test: `{hypothesis['term']}` of {hypothesis['analysis_id']} "
            f"({'confirmatory' if hypothesis['confirmatory'] else 'exploratory'}); decided as registered: "
            f"{hypothesis['sided']} tests, {hypothesis['correction']} correction within the outcome family, rule "
            f"`{hypothesis['rule']}` ({RULE_WORDS.get(hypothesis['rule'], hypothesis['rule'])}); status: {hypothesis['status']}; "
            f"run as registered: {'yes' if hypothesis['run_as_registered'] else 'no'}.",
            "",
        ]
        if hypothesis["tests"]:
            lines += ["| outcome | registered | estimate | 95% CI | p | p adjusted | observed | as registered | decides |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for test in hypothesis["tests"]:
                if not test["tested"]:
                    lines.append(f"| {test['outcome']} | {test['registered_direction']} | not tested | | | | | | |")
                    continue
                lines.append(
                    f"| {test['outcome']} | {test['registered_direction']} | {test['estimate']:.3f} | "
                    f"[{test['ci_low']:.3f}, {test['ci_high']:.3f}] | {_cell(test['p_value'])} | {_cell(test['p_adjusted'])} | "
                    f"{test['observed_direction']} | "
                    f"{'yes' if test['direction_as_registered'] else 'no'}{', adjusted p < alpha' if test['significant'] else ''} | "
                    f"{'yes' if test['decides'] else 'no (supporting)'} |"
                )
            lines.append("")
    lines += ["## Deviations", ""]
    if not audit["deviations"]:
        lines.append("None.")
    else:
        lines += ["| severity | kind | analysis | field | planned | executed | declared | reason / message |", "|---|---|---|---|---|---|---|---|"]
        for d in audit["deviations"]:
            declared = f"yes ({d['declaration_id']})" if d["declared"] else "**NO**"
            lines.append(f"| {d['severity']} | {d['kind']} | {d['analysis_id']} | {d['field']} | {_cell(d['planned'])} | "
                         f"{_cell(d['executed'])} | {declared} | {_cell(d['reason'] or d['message'])} |")
    if audit["unmatched_declarations"]:
        lines += ["", "Declared deviations that did not occur (consider removing them from the configuration):", ""]
        lines += [f"- {d['id']} ({d['kind']}, {d.get('analysis_id')}): {d['reason']}" for d in audit["unmatched_declarations"]]
    lines += ["", "Severity: " + "; ".join(f"{kind}: {severity}" for kind, (severity, _) in DEVIATION_KINDS.items()) + ".", ""]
    return "\n".join(lines)
