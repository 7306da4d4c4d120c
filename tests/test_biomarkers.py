"""Biomarker statistics pinned to R (tests/reference/make_biomarkers_reference.R) and scipy/statsmodels.

The R reference computes BASE and CHG itself from the CSVs / XPT files (ABLFL = "Y"; CHG on
records after the baseline visit) and calls, per parameter, group and visit:
  quantile(x, type = 7); t.test(CHG); wilcox.test(CHG); p.adjust(p, "holm"), p.adjust(p, "BH");
  oneway.test(y ~ TRT01A, var.equal = TRUE); kruskal.test(y ~ TRT01A);
  options(contrasts = c("contr.sum", "contr.poly"))
  nlme::lme(CHG ~ BASE + TRT01A * AVISIT, random = ~ 1 | USUBJID, method = "REML");
  anova(fit, type = "marginal"); fixef(fit); vcov(fit); L %*% fixef(fit) at mean(BASE).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from trialkit.analyses.biomarkers import summaries as bm
from trialkit.analyses.biomarkers.pipeline import analyse_biomarkers
from trialkit.analyses.groups import Arm, arms_of
from trialkit.analyses.biomarkers.longitudinal import fit_change_model, fit_reml_random_intercept

REF = Path(__file__).parent / "reference" / "biomarkers"


def ref(name: str) -> pl.DataFrame:
    df = pl.read_csv(REF / name, infer_schema_length=None)
    return df.with_columns(pl.col("visitn").cast(pl.Float64)) if "visitn" in df.columns else df


def close(a, b, rel=1e-9, abs_=1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= max(rel * abs(b), abs_)


@pytest.fixture(scope="module")
def seed(seed_workspace):
    adlb, adsl = (pl.read_parquet(seed_workspace / f"{d}.parquet") for d in ("adlb", "adsl"))
    return {"t": analyse_biomarkers(adlb, adsl, arms_of(adsl), test="t", adjust="holm"),
            "w": analyse_biomarkers(adlb, adsl, arms_of(adsl), test="wilcoxon", adjust="bh", derive=[])}


@pytest.fixture(scope="module")
def pilot(pilot_workspace):
    adlb, adsl = (pl.read_parquet(pilot_workspace / f"{d}.parquet") for d in ("adlb", "adsl"))
    return {"t": analyse_biomarkers(adlb, adsl, arms_of(adsl), test="t", adjust="bh"),
            "w": analyse_biomarkers(adlb, adsl, arms_of(adsl), test="wilcoxon")}


def _compare(reference: pl.DataFrame, ours: pl.DataFrame, keys: list[str], pairs: dict[str, str], rel=1e-9, abs_=1e-9):
    joined = reference.join(ours, on=keys, how="left", suffix="_py")
    assert joined.height == reference.height
    bad = []
    for r in joined.iter_rows(named=True):
        for theirs, mine in pairs.items():
            if not close(r[mine], r[theirs], rel, abs_):
                bad.append((tuple(r[k] for k in keys), theirs, r[theirs], r[mine]))
    assert not bad, bad[:5]


# ---------------------------------------------------------------- summaries (type 7 quantiles)
SUMMARY_PAIRS = {c: f"{c}_py" for c in ("n", "mean", "sd", "median", "q1", "q3", "min", "max", "chg_n", "chg_mean",
                                        "chg_sd", "chg_median", "chg_q1", "chg_q3", "chg_min", "chg_max")}


def test_seed_summaries_match_r(seed):
    _compare(ref("seed_summaries.csv"), seed["t"].summaries, ["param", "arm", "visitn"], SUMMARY_PAIRS)


def test_pilot_summaries_match_r(pilot):
    _compare(ref("pilot_summaries.csv"), pilot["t"].summaries, ["param", "arm", "visitn"], SUMMARY_PAIRS)


def test_se_is_sd_over_root_n(seed):
    s = seed["t"].summaries.filter(pl.col("n") > 1)
    assert np.allclose(s["se"].to_numpy(), s["sd"].to_numpy() / np.sqrt(s["n"].to_numpy()))


# ---------------------------------------------------------------- within groups
WITHIN_T = {"n": "n", "mean": "mean_change", "t": "statistic", "t_p": "p", "lower": "lower", "upper": "upper"}


def test_seed_paired_t_and_holm_match_r(seed):
    pairs = WITHIN_T | {"t_p_holm": "p_adj"}
    _compare(ref("seed_within.csv"), seed["t"].within, ["param", "arm", "visitn"], pairs, rel=1e-9, abs_=1e-12)


def test_seed_wilcoxon_and_bh_match_r(seed):
    within = seed["w"].within.rename({"statistic": "V", "p": "wp", "p_adj": "wp_adj"})
    _compare(ref("seed_within.csv"), within, ["param", "arm", "visitn"], {"v": "V", "wilcoxon_p": "wp"}, abs_=1e-12)
    # BH over the Wilcoxon p-values, checked against statsmodels' fdr_bh
    from statsmodels.stats.multitest import multipletests

    for (param, arm), g in seed["w"].within.group_by("param", "arm"):
        p = g.filter(pl.col("p").is_not_null())
        if p.height:
            expected = multipletests(p["p"].to_numpy(), method="fdr_bh")[1]
            assert np.allclose(p["p_adj"].to_numpy(), expected, rtol=1e-12), (param, arm)


def test_seed_t_bh_matches_r(seed_workspace):
    adlb, adsl = (pl.read_parquet(seed_workspace / f"{d}.parquet") for d in ("adlb", "adsl"))
    res = analyse_biomarkers(adlb, adsl, arms_of(adsl), test="t", adjust="bh", derive=[])
    _compare(ref("seed_within.csv"), res.within, ["param", "arm", "visitn"], {"t_p_bh": "p_adj"}, abs_=1e-12)


def test_pilot_within_tests_match_r(pilot):
    _compare(ref("pilot_within.csv"), pilot["t"].within, ["param", "arm", "visitn"], WITHIN_T | {"t_p_bh": "p_adj"},
             abs_=1e-12)
    w = pilot["w"].within.rename({"statistic": "V", "p": "wp"})
    _compare(ref("pilot_within.csv"), w, ["param", "arm", "visitn"], {"v": "V", "wilcoxon_p": "wp"}, abs_=1e-12)


def test_wilcoxon_notes_say_exact_or_normal(seed, pilot):
    assert seed["w"].within.filter(pl.col("n") >= 2)["note"].str.contains("exact|normal|all changes are 0").all()
    # with n >= 50 R (and trialkit) switch to the normal approximation
    big = pilot["w"].within.filter(pl.col("n") >= 50)
    assert big.height and big["note"].str.starts_with("normal approximation").all()


# ---------------------------------------------------------------- between groups
def test_seed_between_match_r(seed):
    pairs_t = {"f": "statistic", "anova_p": "p", "n": "n"}
    _compare(ref("seed_between.csv"), seed["t"].between, ["param", "variable", "visitn"], pairs_t)
    kw = seed["w"].between.rename({"statistic": "h_py", "p": "kp"})
    _compare(ref("seed_between.csv"), kw, ["param", "variable", "visitn"], {"h": "h_py", "kruskal_p": "kp"})


def test_pilot_between_match_r(pilot):
    _compare(ref("pilot_between.csv"), pilot["t"].between, ["param", "variable", "visitn"],
             {"f": "statistic", "anova_p": "p"})
    kw = pilot["w"].between.rename({"statistic": "h_py", "p": "kp"})
    _compare(ref("pilot_between.csv"), kw, ["param", "variable", "visitn"], {"h": "h_py", "kruskal_p": "kp"})


# ---------------------------------------------------------------- adjustment
def test_adjust_p_matches_statsmodels_and_skips_nulls():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, None, 0.04, 0.03, 0.2, 0.005]
    kept = np.array([v for v in p if v is not None])
    for method, sm in (("holm", "holm"), ("bh", "fdr_bh")):
        out = bm.adjust_p(p, method)
        assert out[1] is None
        assert np.allclose([v for v in out if v is not None], multipletests(kept, method=sm)[1], rtol=1e-12)
    assert bm.adjust_p(p, "none") == p


# ---------------------------------------------------------------- the longitudinal model vs nlme
MODEL_PAIRS = {c: c + "_py" for c in ("interaction_f", "interaction_p", "group_f", "group_p", "visit_f", "visit_p")}


def _models_match(reference: pl.DataFrame, ours) -> None:
    joined = reference.join(ours.models, on="param", suffix="_py")
    assert joined.height == reference.height
    for r in joined.iter_rows(named=True):
        # REML optimisers stop at slightly different points (nlme: its own convergence criteria;
        # trialkit: Brent on the variance ratio to 1e-10), and nlme cannot reach a variance of 0
        for c in ("interaction_f", "interaction_p", "group_f", "group_p", "visit_f", "visit_p"):
            assert r[c + "_py"] == pytest.approx(r[c], rel=1e-4), (r["param"], c)
        for c in ("interaction_df1", "interaction_df2", "group_df1", "group_df2", "visit_df2"):
            assert r[c + "_py"] == r[c], (r["param"], c)  # nlme's denominator df rule, exactly
        assert r["n_obs_py"] == r["n_obs"] and r["n_subjects_py"] == r["n_subjects"]
        assert r["sigma_py"] == pytest.approx(r["sigma"], rel=1e-5)
        assert r["sd_subject_py"] == pytest.approx(r["sd_subject"], rel=1e-3, abs=2e-3 * r["sigma"])
        assert r["loglik_reml"] == pytest.approx(r["loglik"], rel=1e-7, abs=1e-5)


def _coefficients_match(reference: pl.DataFrame, means: pl.DataFrame, ours) -> None:
    coef = ours.coefficients.with_columns(pl.int_range(pl.len()).over("param").add(1).alias("index"))
    j = reference.join(coef, on=["param", "index"], suffix="_py")
    assert j.height == reference.height
    assert ((j["estimate"] - j["estimate_py"]).abs() <= 1e-4 * j["se"]).all()
    assert ((j["se"] / j["se_py"] - 1).abs() <= 1e-4).all()
    m = means.join(ours.marginal_means, on=["param", "arm", "visitn"], suffix="_py")
    assert m.height == means.height
    assert ((m["estimate"] - m["estimate_py"]).abs() <= 1e-4 * m["se"]).all()
    assert ((m["se"] / m["se_py"] - 1).abs() <= 1e-4).all()
    # emmeans(fit, ~ TRT01A | AVISIT): containment df and t limits
    assert (m["df"] == m["df_py"]).all()
    assert ((m["lower"] - m["lower_py"]).abs() <= 3e-4 * m["se"]).all()  # est and se each to 1e-4 (the REML optimum)
    assert ((m["upper"] - m["upper_py"]).abs() <= 3e-4 * m["se"]).all()


def test_seed_models_match_nlme(seed):
    _models_match(ref("seed_models.csv"), seed["t"])
    _coefficients_match(ref("seed_coefficients.csv"), ref("seed_marginal_means.csv"), seed["t"])


def test_pilot_models_match_nlme(pilot):
    _models_match(ref("pilot_models.csv"), pilot["t"])
    _coefficients_match(ref("pilot_coefficients.csv"), ref("pilot_marginal_means.csv"), pilot["t"])


def test_reml_fit_agrees_with_statsmodels_mixedlm(seed):
    """A second, independent implementation: statsmodels MixedLM (REML) on ALB, where it converges."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    rng = np.random.default_rng(7)
    subjects = np.repeat(np.arange(30), 5)
    X = np.column_stack([np.ones(150), rng.normal(size=150), np.tile(np.arange(5), 30)])
    y = X @ np.array([1.0, 0.5, -0.2]) + np.repeat(rng.normal(scale=1.5, size=30), 5) + rng.normal(size=150)
    ours = fit_reml_random_intercept(X, y, subjects)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = MixedLM(y, X, groups=subjects).fit(reml=True)
    assert sm.converged
    assert np.allclose(ours.beta, sm.fe_params, rtol=1e-5)
    assert ours.sigma2 == pytest.approx(sm.scale, rel=1e-4)
    assert ours.ratio * ours.sigma2 == pytest.approx(float(np.asarray(sm.cov_re)[0, 0]), rel=1e-3)
    assert ours.loglik == pytest.approx(sm.llf, rel=1e-6)


# ---------------------------------------------------------------- the published patterns (synthetic trial)
def test_seed_reproduces_the_published_patterns(seed):
    w = seed["t"].within.filter(pl.col("arm") == "All")
    get = lambda p, v: w.filter((pl.col("param") == p) & (pl.col("visitn") == v)).row(0, named=True)  # noqa: E731
    for v in (57, 85):
        assert get("ALB", v)["mean_change"] > 0 and get("ALB", v)["p"] < 0.05
    assert get("ALB", 169)["p"] >= 0.05
    for v in (29, 57, 85, 169):
        assert get("PTA", v)["mean_change"] > 0 and get("PTA", v)["p"] < 0.05
    il8 = w.filter(pl.col("param") == "IL8")
    assert il8.height == 7 and (il8["mean_change"] < 0).all()
    models = dict(seed["t"].models.select("param", "interaction_p").rows())
    assert models["ALB"] >= 0.05 and models["PTA"] >= 0.05


def test_seed_derives_scores_and_skips_classes(seed):
    res = seed["t"]
    assert res.derived == ("meld", "meldna", "childpugh", "albi")
    assert {"MELDD", "MELDNA", "CPSCORED", "ALBI"} <= set(res.params)
    assert dict(res.skipped.rows()).keys() == {"CPCLASS", "ALBIGR"}


def test_pilot_flags_are_not_summarised_as_measurements(pilot):
    assert list(pilot["t"].params) == ["ALT", "AST", "BILI"]
    assert set(pilot["t"].skipped["PARAMCD"]) == {"BILIHY", "HYLAW", "TRANSHY"}
    base = pilot["t"].baseline.filter(pl.col("PARAMCD") == "ALT").row(0, named=True)
    assert base["N_NO_BASELINE"] == 2 and base["N_RECORDS_NO_CHG"] == 13 and base["N_IMPUTED"] == 0


# ---------------------------------------------------------------- edge cases
ARMS = [Arm("Low", "L", 1.0), Arm("High", "H", 2.0), Arm("Empty", "E", 3.0)]


def _toy(values: dict[str, list[tuple[float, float | None]]], arm_of: dict[str, str], param: str = "X") -> pl.DataFrame:
    """Analysis records: subject -> [(visitn, AVAL)], visit 1 is baseline."""
    rows = []
    for s, seq in values.items():
        base = next((a for v, a in seq if v == 1), None)
        for v, a in seq:
            rows.append({"USUBJID": s, "PARAMCD": param, "PARAM": "X (u)", "PARCAT1": "Toy", "AVALU": "u",
                         "AVALC": None, "VISIT": f"V{int(v)}", "VISITN": float(v), "AVAL": a,
                         "BASE": base, "CHG": (a - base) if (v > 1 and base is not None and a is not None) else None,
                         "ABLFL": "Y" if v == 1 else None, "ARM": arm_of[s], "ARMN": [x.label for x in ARMS].index(arm_of[s])})
    return pl.DataFrame(rows)


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_subjects_without_baseline_are_counted_not_dropped(no_warnings):
    data = _toy({"a": [(1, 10), (2, 12)], "b": [(1, 11), (2, 14)], "c": [(2, 20)]},
                {"a": "Low", "b": "Low", "c": "Low"})
    s = bm.summarise_by_visit(data, ["X"], ARMS).filter((pl.col("arm") == "Low") & (pl.col("visitn") == 2)).row(0, named=True)
    assert (s["n"], s["chg_n"], s["n_no_base"]) == (3, 2, 1)


def test_visit_with_one_subject_gives_nulls_with_reason(no_warnings):
    data = _toy({"a": [(1, 10), (2, 12), (3, 15)], "b": [(1, 11), (2, 14)]}, {"a": "Low", "b": "High"})
    w = bm.test_change_within(data, ["X"], ARMS, "t")
    one = w.filter((pl.col("arm") == "All") & (pl.col("visitn") == 3)).row(0, named=True)
    assert one["n"] == 1 and one["mean_change"] == 5.0
    assert one["sd"] is None and one["p"] is None and one["lower"] is None and one["note"] == "n = 1: no SD, CI or test"
    s = bm.summarise_by_visit(data, ["X"], ARMS).filter((pl.col("arm") == "Low") & (pl.col("visitn") == 3)).row(0, named=True)
    assert s["sd"] is None and s["se"] is None and s["note"] == "n = 1: SD and SE undefined"
    b = bm.test_between_groups(data, ["X"], ARMS, "t").filter(pl.col("visitn") == 3).row(0, named=True)
    assert b["p"] is None and "fewer than 2 groups" in b["note"]


def test_all_values_equal_gives_null_p_with_reason(no_warnings):
    data = _toy({s: [(1, 5.0), (2, 5.0)] for s in "abcd"}, {"a": "Low", "b": "Low", "c": "High", "d": "High"})
    t = bm.test_change_within(data, ["X"], ARMS, "t").filter(pl.col("arm") == "All").row(0, named=True)
    assert t["mean_change"] == 0.0 and t["p"] is None and "SD = 0" in t["note"]
    w = bm.test_change_within(data, ["X"], ARMS, "wilcoxon").filter(pl.col("arm") == "All").row(0, named=True)
    assert w["p"] is None and w["note"] == "all changes are 0: signed-rank test undefined"
    for test in ("t", "wilcoxon"):
        b = bm.test_between_groups(data, ["X"], ARMS, test)
        assert b["p"].null_count() == b.height and (b["note"] == "all values equal: no comparison").all()
    row, means, coefs = fit_change_model(data.rename({}), "X", ARMS)
    assert row["interaction_p"] is None and row["note"] == "all changes from baseline are equal: nothing to model"
    assert means == [] and coefs == []


def test_constant_nonzero_change_still_gets_a_signed_rank_p(no_warnings):
    # R: wilcox.test(c(2, 2, 2, 2)) -> V = 10, p = 0.0718606382258516 (ties: normal approximation,
    # sigma = sqrt(4*5*9/24 - (4^3 - 4)/48) = 2.5, z = (10 - 5 - 0.5) / 2.5 = 1.8)
    data = _toy({s: [(1, 5.0), (2, 7.0)] for s in "abcd"}, {"a": "Low", "b": "Low", "c": "High", "d": "High"})
    w = bm.test_change_within(data, ["X"], ARMS, "wilcoxon").filter(pl.col("arm") == "All").row(0, named=True)
    assert w["statistic"] == 10.0 and w["p"] == pytest.approx(0.0718606382258516, rel=1e-12)


def test_group_with_no_data_shows_n_zero(no_warnings):
    rng = np.random.default_rng(3)
    values = {f"s{i}": [(v, float(20 + rng.normal())) for v in (1, 2, 3)] for i in range(12)}
    data = _toy(values, {f"s{i}": ("Low" if i < 6 else "High") for i in range(12)})
    s = bm.summarise_by_visit(data, ["X"], ARMS)
    empty = s.filter(pl.col("arm") == "Empty")
    assert empty.height == 3 and (empty["n"] == 0).all() and (empty["note"] == "no data for this group at this visit").all()
    w = bm.test_change_within(data, ["X"], ARMS, "t").filter(pl.col("arm") == "Empty")
    assert (w["n"] == 0).all() and w["p"].null_count() == w.height
    b = bm.test_between_groups(data, ["X"], ARMS, "t")
    assert (b["n_groups"] == 2).all() and b["p"].null_count() == 0
    row, means, _ = fit_change_model(data, "X", ARMS)
    assert row["n_groups"] == 2 and row["interaction_p"] is not None
    assert {m["arm"] for m in means} == {"Low", "High"}


def test_model_with_a_missing_group_visit_cell_says_why(no_warnings):
    values = {f"s{i}": [(1, 10.0 + i), (2, 11.0 + i * 1.1), (3, 12.0 - i * 0.3)] for i in range(8)}
    data = _toy(values, {f"s{i}": ("Low" if i < 4 else "High") for i in range(8)})
    data = data.filter(~((pl.col("ARM") == "High") & (pl.col("VISITN") == 3)))
    row, _, _ = fit_change_model(data, "X", ARMS)
    assert row["interaction_p"] is None and "rank-deficient" in row["note"]


def test_unknown_param_is_a_usage_error_listing_valid_ones(seed_workspace):
    from trialkit.schemas.errors import UsageError

    adlb, adsl = (pl.read_parquet(seed_workspace / f"{d}.parquet") for d in ("adlb", "adsl"))
    with pytest.raises(UsageError, match=r"--param NOPE: no such PARAMCD") as e:
        analyse_biomarkers(adlb, adsl, arms_of(adsl), params=["alb", "NOPE"])
    assert "ALB" in e.value.hint


def test_count_baselines_tells_flagged_imputed_and_missing():
    from trialkit.analyses.biomarkers import derive as dv

    # no ABLFL: S1's baseline is imputed (day 1, the last on or before day 1); S2 has none,
    # so its two records stay without CHG
    adlb = pl.DataFrame({"USUBJID": ["S1"] * 3 + ["S2"] * 2, "PARAMCD": ["ALB"] * 5,
                         "AVAL": [28.0, 29.0, 31.0, 30.0, 33.0], "ADY": [-2.0, 1.0, 8.0, 8.0, 15.0],
                         "AVISITN": [0.0, 1.0, 8.0, 8.0, 15.0]})
    counts = bm.count_baselines(adlb, dv.derive_vars_base_chg(adlb)).row(0, named=True)
    assert counts == {"PARAMCD": "ALB", "N_SUBJECTS": 2, "N_FLAGGED": 0, "N_IMPUTED": 1, "N_NO_BASELINE": 1,
                      "N_RECORDS_NO_CHG": 2}
