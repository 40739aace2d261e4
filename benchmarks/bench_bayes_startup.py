"""Start-up cost of the ordinal Bayesian fit: imports, PyTensor's BLAS set-up and nutpie's compilation.

Run it in a process with the environment the rule jobs get (``analysis.runtime.jobenv.job_environment``: the
repository's compile cache and scipy's OpenBLAS), or with ``--as-before`` with only the compile cache,
PyTensor left to search the system for a BLAS as it did before. One JSON line per call, wall and CPU
seconds of each part; the CPU seconds are the ones to compare on a shared machine. Run twice: the
first call on an empty ``.cache/`` is the cold one (docs/performance.md).

    .venv/bin/python benchmarks/bench_bayes_startup.py --outcomes results/paper_sim/outcomes/conversation_scores.csv
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from analysis.runtime.jobenv import job_environment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--outcomes", required=True, help="a cohort's results/NAME/outcomes/conversation_scores.csv")
    parser.add_argument("--prereg", default=str(REPOSITORY / "config" / "prereg.yaml"))
    parser.add_argument("--as-before", action="store_true", help="no blas__ldflags: PyTensor searches for a BLAS")
    arguments = parser.parse_args()
    environment = job_environment(REPOSITORY, {})
    if arguments.as_before:
        environment["PYTENSOR_FLAGS"] = ",".join(flag for flag in environment["PYTENSOR_FLAGS"].split(",")
                                                 if flag.startswith("base_compiledir="))
    os.environ.update(environment)

    wall, cpu = time.perf_counter(), time.process_time()
    import nutpie
    import pytensor
    import yaml

    from analysis.cohorts.outcomes import read_outcomes
    from analysis.models.bayes import ORDINAL_NUISANCE, ORDINAL_QUANTITIES, build_ordinal_model, discretise_scores, trial_design

    imported = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ldflags = pytensor.config.blas__ldflags  # the first access searches for a BLAS when none is configured
    blas = time.perf_counter(), time.process_time()
    plan = yaml.safe_load(Path(arguments.prereg).read_text(encoding="utf-8"))
    settings, design_plan = plan["bayesian_models"], plan["design"]
    data = read_outcomes(arguments.outcomes)
    design = trial_design(data, design_plan["arms"], design_plan["reference_arm"])
    categories, _ = discretise_scores(data, plan["outcomes"]["dimensions"], settings["ordinal"]["discretisation"])
    model = build_ordinal_model(design, categories, plan["outcomes"]["dimensions"], settings["ordinal"]["priors"],
                                parameterisation=settings["ordinal"]["participant_parameterisation"])
    stored = [name for name in (*ORDINAL_QUANTITIES[:7], "cutpoints_centred", *ORDINAL_NUISANCE) if name in model.named_vars]
    built = time.perf_counter(), time.process_time()
    nutpie.compile_pymc_model(model, backend=settings["sampler"]["backend"], var_names=stored)
    compiled = time.perf_counter(), time.process_time()
    print(json.dumps({
        "as_before": arguments.as_before,
        "blas": "scipy OpenBLAS" if "scipy_openblas" in ldflags else (ldflags or "none"),
        "blas_warning": any("BLAS" in str(warning.message) for warning in caught),
        "import_wall": round(imported[0] - wall, 1), "import_cpu": round(imported[1] - cpu, 1),
        "blas_setup_wall": round(blas[0] - imported[0], 1), "blas_setup_cpu": round(blas[1] - imported[1], 1),
        "compile_wall": round(compiled[0] - built[0], 1), "compile_cpu": round(compiled[1] - built[1], 1),
        "load_average": round(os.getloadavg()[0], 1),
    }))


if __name__ == "__main__":
    main()
