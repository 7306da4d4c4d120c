"""The proportional-hazards check against R's survival package (3.5-3): cox.zph and plot.cox.zph.

Reference values come from tests/reference/make_zph_reference.R (run from the repository root:
``Rscript tests/reference/make_zph_reference.R``), which writes zph_r.json. Per case, with TRT01A a factor
in TRT01AN order and every dataset sorted by USUBJID:

    fit <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + AGE + SEX [+ strata(SURG)], colon, ties = "efron" | "breslow")
    fit <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + KARNO + strata(CELLTYPE), veteran, ties = ...)
    fit <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + KARNO + KARNO_NS + strata(CELLTYPE), veteran, ties = ...)
           (KARNO_NS = KARNO * (CELLTYPN != 1): constant within a stratum, NA residuals there)
    fit <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, seed trial, ties = ...)
    cox.zph(fit, transform = "km" | "rank" | "identity" | "log")$table               # chisq, df, p
    cox.zph(fit, transform, terms = FALSE)$y, $x, $time, $var                           # scaled residuals
    plot.cox.zph's smooth: ns(c(pred.x, x), df = 4, intercept = TRUE), 2 * sqrt(var[j, j] * seval)

R's coef(fit) is fed in, so the comparison isolates cox.zph. Tolerance: rel=1e-6 (abs=1e-12 for zeros).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from r_reference import same

from trialkit.analyses.survival.zph import ZPH_RESIDUAL_COLUMNS, ZPH_TABLE_COLUMNS, cox_zph, zph_note
from trialkit.analyses.survival.zph_figure import render_zph_figure, zph_smooth
from trialkit.schemas.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
R = json.loads((Path(__file__).parent / "reference" / "zph_r.json").read_text())["cases"]
WITH_RESIDUALS = [name for name, case in R.items() if "residuals" in case]
WITH_SMOOTH = [name for name, case in R.items() if "smooth" in case]


def _trial(folder: Path, extra: list[str]) -> pl.DataFrame:
    tte = pl.read_csv(folder / "adtte.csv", infer_schema_length=10000).filter(pl.col("PARAMCD") == "OS")
    sl = pl.read_csv(folder / "adsl.csv", infer_schema_length=10000)
    return (tte.select("USUBJID", "AVAL", "CNSR").join(sl.select("USUBJID", "TRT01A", "TRT01AN", *extra), on="USUBJID")
            .sort("USUBJID"))


DATA = {
    "colon": _trial(ROOT / "fixtures" / "r_datasets" / "colon", ["AGE", "SEX", "SURG"]),
    "veteran": _trial(ROOT / "fixtures" / "r_datasets" / "veteran", ["KARNO", "CELLTYPN"]),
    "veteranpartial": _trial(ROOT / "fixtures" / "r_datasets" / "veteran", ["KARNO", "CELLTYPN"]),
    "seed": _trial(ROOT / "fixtures" / "seed_trial", []),
}


def _inputs(name: str) -> dict:
    """time, event, x (R's model.matrix columns), strata (codes in R's level order) of a reference case."""
    dataset = name.split("_")[0]
    d = DATA[dataset]
    arms = d.unique("TRT01AN").sort("TRT01AN")["TRT01A"].to_list()
    cols = [(d["TRT01A"] == a).cast(float).to_numpy() for a in arms[1:]]
    strata = None
    if dataset == "colon":
        cols += [d["AGE"].cast(float).to_numpy(), (d["SEX"] == "M").cast(float).to_numpy()]
        if name.startswith("colon_surg"):
            strata = (d["SURG"] == "Short").cast(int).to_numpy()  # strata(SURG): levels Long, Short
    elif dataset.startswith("veteran"):
        cols.append(d["KARNO"].cast(float).to_numpy())
        if dataset == "veteranpartial":  # KARNO_NS = KARNO * (CELLTYPN != 1): constant in the squamous stratum
            cols.append((d["KARNO"] * (d["CELLTYPN"] != 1)).cast(float).to_numpy())
        strata = d["CELLTYPN"].to_numpy()
    return {"time": d["AVAL"].to_numpy(), "event": 1 - d["CNSR"].to_numpy(), "x": np.column_stack(cols),
            "strata": strata}


def _zph(name: str, **overrides):
    case = R[name]
    args = {**_inputs(name), "coef": case["coef"], "var": np.array(case["var"], dtype=float), "ties": case["ties"],
            "terms": list(case["assign"].items()), "transform": case["transform"], "column_names": case["columns"]}
    return cox_zph(**{**args, **overrides})


@pytest.mark.parametrize("name", list(R))
def test_table_matches_cox_zph(name):
    ours, ref = _zph(name).table, R[name]["table"]
    assert ours.schema == pl.Schema(ZPH_TABLE_COLUMNS)
    assert ours["term"].to_list() == ref["term"]
    assert ours["df"].to_list() == ref["df"]
    same(ours["chisq"], ref["chisq"])
    same(ours["p"], ref["p"])
    assert set(ours["transform"]) == {R[name]["transform"]}


@pytest.mark.parametrize("name", WITH_RESIDUALS)
def test_scaled_residuals_match_cox_zph_terms_false(name):
    result, ref = _zph(name), R[name]["residuals"]
    y = np.array(ref["y"], dtype=float)  # events x design columns, NaN where R has NA
    res = result.residuals
    assert res.schema == pl.Schema(ZPH_RESIDUAL_COLUMNS)
    assert res.height == y.size
    for j, column in enumerate(R[name]["columns"]):
        part = res.filter(pl.col("column") == column)
        same(part["time"], ref["time"])
        same(part["transformed_time"], ref["x"])
        same(part["residual"], [None if np.isnan(v) else v for v in y[:, j]])
    same(result.columns["var"], np.diag(np.array(ref["var"], dtype=float)))
    same(result.columns["coef"], R[name]["coef"])


@pytest.mark.parametrize("name", WITH_SMOOTH)
def test_smooth_and_band_match_plot_cox_zph(name):
    result = _zph(name)
    for smooth in R[name]["smooth"]:
        column = R[name]["columns"][smooth["column"]]
        part = result.residuals.filter(pl.col("column") == column)
        var = result.columns.filter(pl.col("column") == column)["var"][0]
        ours = zph_smooth(part["transformed_time"].to_numpy(), part["residual"].to_numpy(), var)
        same(ours["transformed_time"], smooth["pred_x"])
        same(ours["fit"], smooth["yhat"])
        same(ours["upper"], smooth["yup"])
        same(ours["lower"], smooth["ylow"])


def test_veteran_karnofsky_violates_proportional_hazards_and_the_note_says_so():
    result = _zph("veteran_efron_km")
    assert zph_note(result) == ["proportional hazards may not hold for KARNO (cox.zph p = 0.0096); "
                                "the global test p = 0.0288"]
    assert zph_note(result, alpha=0.001) == []
    assert zph_note(_zph("colon_efron_km")) == []


def test_coefficients_fitted_in_python_give_cox_zph_to_1e5():
    """The fit from scikit-survival (Newton-Raphson to 1e-9) instead of R's coef: the table agrees to rel 1e-5."""
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    args = _inputs("colon_efron_km")
    y = np.empty(len(args["time"]), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = args["event"] > 0, args["time"]
    coef = CoxPHSurvivalAnalysis(alpha=0, ties="efron", n_iter=100, tol=1e-9).fit(args["x"], y).coef_
    ours = _zph("colon_efron_km", coef=coef, var=None).table
    same(ours["chisq"], R["colon_efron_km"]["table"]["chisq"], rel=1e-5)
    same(ours["p"], R["colon_efron_km"]["table"]["p"], rel=1e-5)


def test_row_order_and_stratum_labels_do_not_change_the_test():
    """Shuffled subjects, and strata given as text, give R's table: only the stratum of each subject counts."""
    args = _inputs("colon_surg_efron_km")
    perm = np.random.default_rng(11).permutation(len(args["time"]))
    labels = np.where(args["strata"] == 0, "Long", "Short")
    case = R["colon_surg_efron_km"]
    ours = cox_zph(args["time"][perm], args["event"][perm], args["x"][perm], labels[perm], case["coef"], None,
                   terms=list(case["assign"].items())).table
    same(ours["chisq"], case["table"]["chisq"])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_the_check_on_a_fits_sorted_rows_equals_the_check_sorted_afresh(ties):
    """cox_zph(fit=) reuses the rows fit_cox sorted (stratum, time descending); R's event order, the residuals
    and the table are those of sorting afresh, with tied times, strata and shuffled rows."""
    from trialkit.analyses.survival.coxfit import fit_cox

    args = _inputs("veteranpartial_efron_km")
    perm = np.random.default_rng(5).permutation(len(args["time"]))
    args = {k: v[perm] for k, v in args.items()}
    args["time"] = np.ceil(args["time"] / 30)  # months: many tied times within each stratum
    fit = fit_cox(args["time"], args["event"], args["x"], args["strata"], ties)
    assert fit.data is not None
    for transform in ("km", "rank"):
        afresh = cox_zph(**args, coef=fit.coef, ties=ties, transform=transform)
        reused = cox_zph(**args, coef=fit.coef, ties=ties, transform=transform, fit=fit)
        assert reused.table.equals(afresh.table)
        assert reused.residuals.equals(afresh.residuals)
        keys = afresh.residuals.filter(pl.col("column") == "x1").select("stratum", "time").to_numpy()
        assert (np.lexsort(keys.T[::-1]) == np.arange(len(keys))).all()  # R's order: stratum, then time


def test_default_terms_are_one_per_column_named_x1_x2():
    args = _inputs("veteran_efron_km")
    result = cox_zph(**args, coef=R["veteran_efron_km"]["coef"])
    assert result.table["term"].to_list() == ["x1", "x2", "GLOBAL"]
    same(result.table["chisq"], R["veteran_efron_km"]["table"]["chisq"])  # one column per term, as R's
    assert result.columns["column"].to_list() == ["x1", "x2"]


def test_multi_column_term_names_its_columns_by_number():
    result = _zph("colon_efron_km", column_names=None)
    assert result.columns["column"].to_list() == ["TRT01A1", "TRT01A2", "AGE", "SEX"]
    assert result.columns["term"].to_list() == ["TRT01A", "TRT01A", "AGE", "SEX"]


@pytest.mark.parametrize("change, error, text", [
    ({"transform": "sqrt"}, UsageError, "transform 'sqrt' is not one of km, rank, identity, log"),
    ({"ties": "exact"}, UsageError, "ties 'exact' is not one of efron, breslow"),
    ({"terms": [("TRT01A", [0, 1]), ("AGE", [2])]}, UsageError, "the terms must share out the 4 design columns"),
    ({"column_names": ["a", "b"]}, UsageError, "2 column names for 4 design columns"),
    ({"terms": [("TRT01A", 0)]}, UsageError, "terms must be (name, list of design column indices) pairs"),
    ({"coef": [0.1, 0.2]}, DataError, "2 coefficients for 4 design columns"),
    ({"var": np.eye(2)}, DataError, "the variance matrix is (2, 2), not 4 x 4"),
])
def test_bad_options_are_refused_with_the_reason(change, error, text):
    with pytest.raises(error) as caught:
        _zph("colon_efron_km", **change)
    assert text in caught.value.message


def test_a_constant_design_column_is_a_data_error():
    args = _inputs("veteran_efron_km")
    x = np.column_stack([args["x"], np.ones(len(args["time"]))])
    with pytest.raises(DataError, match="singular"):
        cox_zph(args["time"], args["event"], x, args["strata"], [*R["veteran_efron_km"]["coef"], 0.0])


def test_no_events_and_log_of_time_zero_are_data_errors():
    args = _inputs("seed_efron_km")
    with pytest.raises(DataError, match="there are no events"):
        cox_zph(args["time"], np.zeros_like(args["event"]), args["x"], None, R["seed_efron_km"]["coef"])
    time = args["time"].astype(float)
    time[0] = 0.0
    with pytest.raises(DataError, match="the log transform needs times above 0"):
        cox_zph(time, args["event"], args["x"], None, R["seed_efron_km"]["coef"], transform="log")
    with pytest.raises(DataError, match="must be finite"):
        cox_zph(np.r_[np.nan, time[1:]], args["event"], args["x"], None, R["seed_efron_km"]["coef"])


def test_figure_renders_png_and_svg_deterministically_with_text_in_the_svg():
    result = _zph("colon_efron_km", column_names=["Levamisole", "Levamisole+5-FU", "AGE", "SEX M"])
    first = render_zph_figure(result, title="Colon: overall survival")
    second = render_zph_figure(result, title="Colon: overall survival")
    assert first["png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert first == second
    svg = first["svg"].decode()
    assert "<text" in svg and "cox.zph p = 0.4729" in svg and "Levamisole+5-FU" in svg
