"""Load and check the registered analysis plan (``config/prereg.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from analysis.errors import ConfigError

__all__ = ["SCHEMA_DIR", "read_yaml", "validate_against_schema", "check_plan_consistency", "load_prereg"]

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"


# libyaml's parser where PyYAML was built with it (the wheels are): the same safe constructor, so the same
# Python objects, parsed several times faster. Every Snakemake command reads the plan and its schema.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file with the safe loader, raising ConfigError naming the file when it is missing or not YAML."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_SAFE_LOADER)
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: file not found") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error


def validate_against_schema(document: Any, schema_path: Path, source: str) -> None:
    """Raise ConfigError naming every place where ``document`` breaks its JSON Schema."""
    schema = read_yaml(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path))
    if problems:
        lines = [
            f"{source}: at '{'/'.join(str(part) for part in problem.absolute_path) or '<top>'}': {problem.message}"
            for problem in problems
        ]
        raise ConfigError("The registered plan is invalid:\n  " + "\n  ".join(lines))


def check_plan_consistency(plan: dict, source: str = "prereg") -> None:
    """Check what a JSON Schema cannot: names that must refer to each other.

    Raises
    ------
    ConfigError
        When the reference arm is not an arm, the composite or the primary
        outcomes name an unregistered dimension, post conversations exceed the
        number of conversations, or a hypothesis names an unknown term/outcome.
    """
    problems = []
    design = plan["design"]
    arms = design["arms"]
    if design["reference_arm"] not in arms:
        problems.append(f"design.reference_arm '{design['reference_arm']}' is not one of design.arms {arms}")
    n_conversations = design["conversations_per_participant"]
    for number in design["post_conversations"]:
        if number > n_conversations:
            problems.append(
                f"design.post_conversations has {number}, but participants hold {n_conversations} conversations"
            )
    dimensions = plan["outcomes"]["dimensions"]
    composite = plan["outcomes"]["composite"]
    for key in ("add", "subtract"):
        for name in composite[key]:
            if name not in dimensions:
                problems.append(f"outcomes.composite.{key} names '{name}', which is not a registered dimension")
    known_outcomes = [*dimensions, composite["name"]]
    for name in plan["primary_analysis"]["outcomes"]:
        if name not in known_outcomes:
            problems.append(f"primary_analysis.outcomes names '{name}', expected one of {known_outcomes}")
    non_reference = [arm for arm in arms if arm != design["reference_arm"]]
    known_terms = {"intercept", "post", *non_reference, *(f"{arm}:post" for arm in non_reference)}
    for hypothesis in plan.get("hypotheses", []):
        contrast = hypothesis.get("contrast")
        if contrast is not None:
            for key in ("arm_a", "arm_b"):
                if contrast[key] not in non_reference:
                    problems.append(f"hypothesis {hypothesis['id']} contrast.{key} is '{contrast[key]}', expected one of {non_reference}")
            expected_term = f"{contrast['arm_a']}:post - {contrast['arm_b']}:post"
            if hypothesis["term"] != expected_term:
                problems.append(f"hypothesis {hypothesis['id']} has a contrast, so its term must read '{expected_term}', not '{hypothesis['term']}'")
        elif hypothesis["term"] not in known_terms:
            problems.append(f"hypothesis {hypothesis['id']} tests term '{hypothesis['term']}', expected one of {sorted(known_terms)}")
        for outcome in hypothesis["direction"]:
            if outcome not in known_outcomes:
                problems.append(f"hypothesis {hypothesis['id']} names outcome '{outcome}', expected one of {known_outcomes}")
        for outcome in hypothesis.get("outcomes", []):
            if outcome not in hypothesis["direction"]:
                problems.append(f"hypothesis {hypothesis['id']} decides on outcome '{outcome}', which has no registered direction")
        decided = hypothesis.get("outcomes", list(hypothesis["direction"]))
        if hypothesis.get("rule") == "composite_only" and composite["name"] not in decided:
            problems.append(f"hypothesis {hypothesis['id']} has rule composite_only, but its outcomes lack the composite '{composite['name']}'")
    aggregation = plan["judge_aggregation"]
    if aggregation["method"] == "single" and not aggregation.get("judge"):
        problems.append("judge_aggregation.method is 'single' but judge_aggregation.judge is not set")
    ids = [rule["id"] for rule in plan["exclusions"]]
    if len(ids) != len(set(ids)):
        problems.append(f"exclusions have duplicate ids: {ids}")
    if problems:
        raise ConfigError(f"{source} is inconsistent:\n  " + "\n  ".join(problems))


def load_prereg(path: str | Path) -> dict:
    """Read, schema-validate and consistency-check the registered plan.

    Parameters
    ----------
    path : str or Path
        The plan's YAML file.

    Returns
    -------
    dict
        The plan, as written (defaults are not filled in silently).
    """
    path = Path(path)
    plan = read_yaml(path)
    validate_against_schema(plan, SCHEMA_DIR / "prereg.schema.yaml", str(path))
    check_plan_consistency(plan, str(path))
    return plan
