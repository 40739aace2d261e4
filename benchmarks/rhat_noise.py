"""How large split R-hat is by chance at a given ESS, for chains that mix perfectly well.

Draws 4 chains of 1000 iterations from a stationary AR(1) process (no convergence problem at all)
with autocorrelation ``phi`` and reports ArviZ's rank-normalised split R-hat and bulk ESS over
replicates. With ``phi = 0.818`` (about 0.1 effective draws per iteration, the ordinal model's
slowest quantities) the ESS is about 400 and R-hat exceeds 1.01 in about a third of replicates, so
requiring R-hat <= 1.01 on 165 quantities at once needs a far larger ESS than 400
(docs/bayesian_models.md, "Why thinning").

Usage::

    .venv/bin/python benchmarks/rhat_noise.py [--replicates 600] [--seed 1]
"""

from __future__ import annotations

import argparse
import warnings

import arviz as az
import numpy as np
import pandas as pd
from scipy.signal import lfilter

CHAINS, DRAWS, BURN_IN, QUANTITIES = 4, 1000, 200, 165


def rhat_noise(phi: float, replicates: int, rng: np.random.Generator) -> dict:
    """R-hat and bulk ESS of ``replicates`` sets of AR(1) chains with autocorrelation ``phi``."""
    r_hat, ess = np.empty(replicates), np.empty(replicates)
    for replicate in range(replicates):
        chains = lfilter([1.0], [1.0, -phi], rng.normal(size=(CHAINS, DRAWS + BURN_IN)), axis=1)[:, BURN_IN:]
        r_hat[replicate] = float(az.rhat(chains))
        ess[replicate] = float(az.ess(chains, method="bulk"))
    above = float((r_hat > 1.01).mean())
    return {
        "phi": phi,
        "median_ess_bulk": float(np.median(ess)),
        "median_r_hat": float(np.median(r_hat)),
        "share_r_hat_above_1.01": above,
        f"chance_all_{QUANTITIES}_pass_if_independent": (1.0 - above) ** QUANTITIES,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    warnings.simplefilter("ignore", RuntimeWarning)
    rows = [rhat_noise(phi, arguments.replicates, rng) for phi in (0.818, 0.5, 0.0)]
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
