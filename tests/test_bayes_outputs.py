"""What a Bayesian fit rule writes: the diagnostics always, the posterior only past the gates."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pandas as pd
import pytest
import xarray as xr

from analysis.models.bayes import DiagnosticsError, Gates
from analysis.models.bayes_outputs import write_bayes_fit

EXECUTION = {"diagnostics": {"max_r_hat": 1.2}}


def _fit() -> SimpleNamespace:
    return SimpleNamespace(
        diagnostics=pd.DataFrame({"parameter": ["beta"], "r_hat": [1.2]}),
        execution=EXECUTION,
        problems=["R-hat 1.2 above 1.01"],
        idata=xr.Dataset({"beta": ("draw", [0.1, 0.2])}),
    )


def _write(fit, tmp_path, policy: str) -> dict:
    paths = {"diagnostics": tmp_path / "diagnostics.csv", "idata": tmp_path / "idata.nc"}
    gates = Gates(max_r_hat=1.01, min_ess_bulk=400, min_ess_tail=400, max_divergences=0, policy=policy)
    write_bayes_fit(fit, gates=gates, analysis_id="bayes_test", **paths, log=logging.getLogger("test"))
    return paths


def test_a_fit_breaking_its_gates_keeps_its_diagnostics_and_no_posterior(tmp_path):
    with pytest.raises(DiagnosticsError, match="bayes_test broke its registered diagnostic gates"):
        _write(_fit(), tmp_path, "fail")
    assert pd.read_csv(tmp_path / "diagnostics.csv")["r_hat"].tolist() == [1.2]
    assert not (tmp_path / "idata.nc").exists()


def test_a_fit_under_the_warn_policy_writes_its_posterior(tmp_path):
    paths = _write(_fit(), tmp_path, "warn")
    assert xr.load_dataset(paths["idata"])["beta"].values.tolist() == [0.1, 0.2]
    assert pd.read_csv(paths["diagnostics"])["parameter"].tolist() == ["beta"]
