"""Efficacy models of a continuous endpoint: ANCOVA at one visit, MMRM over the visits.

The biomarkers stage runs them with ``--model ancova`` or ``--model mmrm`` on each ``--param``,
on the records it has already prepared: its derived BDS (ABLFL, BASE, CHG) in its analysis
population and groups (TRT01A; the reference is the first in TRT01AN order). The response is CHG.

- ``efficacy_records``: the post-baseline records of one parameter with the group, visit, dose
  (the group's TRT01AN), DTYPE and the covariates (BDS variables per record, else ADSL's per
  subject).
- ``scheduled_visits`` and ``primary_visit``: the post-baseline visits in AVISITN order, leaving out
  unscheduled and end-of-study visits (AVISIT matching ``UNSCHEDULED_PATTERN``); the primary visit
  is ``--visit`` (AVISIT, any case, or AVISITN), else the last scheduled one.
- Missing data: observed cases (records without DTYPE) unless the data carry DTYPE = "LOCF"
  records or ``impute="locf"`` asks for them; then ``impute.derive_locf`` adds them where the data
  have none, as ADaM derived records, and the analysis uses observed and LOCF records.
- ``fit_efficacy``: per parameter, ``ancova.fit_ancova`` on the primary visit's records (with the
  dose-response test when the groups have distinct TRT01AN) or ``mmrm.fit_mmrm`` on the scheduled
  visits up to the primary one; the results stacked with a ``param`` column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.efficacy.contract import (COVARIANCE_SCHEMA, CONTRASTS_SCHEMA, DOSE_SCHEMA, LSMEANS_SCHEMA,
                                                TESTS_SCHEMA)
from trialkit.analyses.groups import Arm
from trialkit.schemas.errors import DataError, NoDataError, UsageError

__all__ = ["MODELS", "IMPUTE", "COV_STRUCTURES", "DDFM", "EfficacySettings", "EfficacyResults", "efficacy_records",
           "scheduled_visits", "primary_visit", "fit_efficacy", "method_text", "draw_efficacy_figures", "MODEL_COLUMNS"]

MODELS = ("ancova", "mmrm")
IMPUTE = ("none", "locf")
COV_STRUCTURES = ("us", "cs", "ar1", "toep", "csh", "ar1h", "toeph")
DDFM = ("kr", "satterthwaite", "residual")
UNSCHEDULED_PATTERN = r"(?i)unsched|end of|early term|termination|follow[- ]?up|retrieved"

MODEL_COLUMNS = {
    "param": pl.String, "model": pl.String, "response": pl.String, "visit": pl.String, "n_visits": pl.Int64,
    "covariates": pl.String, "weights": pl.String, "cov_structure": pl.String, "ddfm": pl.String,
    "impute": pl.String, "n_subjects": pl.Int64, "n_records": pl.Int64, "n_dropped": pl.Int64,
    "n_locf": pl.Int64, "sigma": pl.Float64, "df_resid": pl.Float64, "converged": pl.Boolean,
    "iterations": pl.Int64, "loglik_reml": pl.Float64, "note": pl.String,
}


@dataclass(frozen=True)
class EfficacySettings:
    """The model and its options (the CLI's --model, --visit, --covariate, --weights, --cov, --ddfm, --impute)."""

    model: str = "ancova"
    visit: str | None = None
    covariates: tuple[str, ...] = ("BASE",)
    weights: str = "equal"
    cov: str = "us"
    ddfm: str = "kr"
    impute: str | None = None  # None: LOCF when the data carry LOCF records, else observed cases
    conf_level: float = 0.95

    def check(self) -> EfficacySettings:
        for value, allowed, option in ((self.model, MODELS, "--model"), (self.cov, COV_STRUCTURES, "--cov"),
                                       (self.ddfm, DDFM, "--ddfm"), (self.weights, ("equal", "observed"), "--weights")):
            if value not in allowed:
                raise UsageError(f"{option} {value!r} is not one of {', '.join(allowed)}", f"use {option} {allowed[0]}")
        if self.impute is not None and self.impute not in IMPUTE:
            raise UsageError(f"--impute {self.impute!r} is not one of {', '.join(IMPUTE)}",
                             "use --impute none (observed cases) or --impute locf")
        if not 0 < self.conf_level < 1:
            raise UsageError(f"--conf-level {self.conf_level} is not between 0 and 1", "use for example --conf-level 0.95")
        return self


@dataclass(frozen=True)
class EfficacyResults:
    """Per parameter: the model's summary row, LS means, contrasts, type III tests, the dose-response test
    (ANCOVA) and the covariance matrix (MMRM); frames stacked with a leading ``param`` column."""

    settings: EfficacySettings
    models: pl.DataFrame
    lsmeans: pl.DataFrame
    contrasts: pl.DataFrame
    tests: pl.DataFrame
    dose_response: pl.DataFrame
    covariance: pl.DataFrame
    notes: tuple[str, ...]

    def tables(self) -> dict[str, pl.DataFrame]:
        """Name -> frame, as written to biomarkers/efficacy_<name>.parquet: the dose-response tests with an
        ANCOVA, the covariance matrices with an MMRM."""
        out = {"efficacy_models": self.models, "efficacy_lsmeans": self.lsmeans,
               "efficacy_contrasts": self.contrasts, "efficacy_tests": self.tests}
        if self.settings.model == "ancova":
            out["efficacy_dose"] = self.dose_response
        else:
            out["efficacy_covariance"] = self.covariance
        return out


def _with_param(schema: dict) -> dict:
    return {"param": pl.String, **schema}


def _variable(name: str, bds: pl.DataFrame, adsl: pl.DataFrame) -> str:
    """Where a covariate lives: "BDS" (per record) or "ADSL" (per subject); a usage error when in neither."""
    if name in bds.columns:
        return "BDS"
    if name in adsl.columns:
        return "ADSL"
    import difflib

    close = difflib.get_close_matches(name.upper(), sorted({*bds.columns, *adsl.columns}), n=1)
    raise UsageError(f"--covariate {name}: no such variable in ADLB or ADSL",
                     f"did you mean {close[0]}?" if close else "name an ADLB or ADSL variable, e.g. --covariate BASE")


def efficacy_records(derived: pl.DataFrame, adsl: pl.DataFrame, arms: Sequence[Arm], param: str,
                     covariates: Sequence[str] = ("BASE",)) -> pl.DataFrame:
    """The parameter's records after baseline (CHG derived or a post-baseline visit), one row each: USUBJID,
    group, visit (AVISIT), visitn (AVISITN), y (CHG), DTYPE, AVAL, dose (the group's TRT01AN) and the
    covariates, for the subjects of ``adsl`` in ``arms``."""
    require_columns(derived, ("USUBJID", "PARAMCD", "AVISIT", "AVISITN", "AVAL", "CHG", "BASE"), dataset="ADLB",
                    purpose="an efficacy model (visits, change from baseline)",
                    hint="add AVISIT and AVISITN to ADLB and re-run trialkit ingest")
    covariates = list(dict.fromkeys(covariates))
    sources = {c: _variable(c, derived, adsl) for c in covariates}
    order = {a.label: a.order for a in arms}
    bds = derived.filter(pl.col("PARAMCD") == param)
    if "ABLFL" in bds.columns:
        bds = bds.filter(pl.col("ABLFL").fill_null("") != "Y")
    dtype = pl.col("DTYPE").cast(pl.String) if "DTYPE" in bds.columns else pl.lit(None, pl.String)
    bds_cols = [c for c in covariates if sources[c] == "BDS" and c not in ("CHG", "AVAL")]
    records = bds.select("USUBJID", pl.col("AVISIT").cast(pl.String).alias("visit"),
                         pl.col("AVISITN").cast(pl.Float64).alias("visitn"), pl.col("CHG").cast(pl.Float64).alias("y"),
                         pl.col("AVAL").cast(pl.Float64), dtype.alias("DTYPE"), *bds_cols)
    sl_cols = [c for c in covariates if sources[c] == "ADSL" and c not in ("USUBJID", "TRT01A")]
    subjects = adsl.select("USUBJID", pl.col("TRT01A").alias("group"), *sl_cols).filter(
        pl.col("group").is_in(list(order)))
    out = records.join(subjects, on="USUBJID", how="inner", maintain_order="left")
    # after baseline: the visits where CHG is derived for someone (derive_var_chg sets it only after baseline)
    later = out.filter(pl.col("y").is_not_null()).select(pl.col("visitn").min()).item()
    if later is None:
        return out.clear().with_columns(pl.lit(None, pl.Float64).alias("dose"))
    out = out.filter(pl.col("visitn") >= later)
    return out.with_columns(pl.col("group").replace_strict(order, default=None, return_dtype=pl.Float64).alias("dose"))


def scheduled_visits(records: pl.DataFrame) -> list[tuple[str, float]]:
    """(AVISIT, AVISITN) of the post-baseline scheduled visits in time order (unscheduled, end-of-study and
    follow-up visits left out)."""
    visits = (records.filter(pl.col("visit").is_not_null() & pl.col("visitn").is_not_null())
              .group_by("visit").agg(pl.col("visitn").min()).sort("visitn", "visit"))
    return [(v, n) for v, n in visits.rows() if not re.search(UNSCHEDULED_PATTERN, v)]


def primary_visit(visits: list[tuple[str, float]], wanted: str | None, param: str) -> str:
    """``wanted`` (an AVISIT, any case, or an AVISITN) among ``visits``, else the last of them."""
    if not visits:
        raise NoDataError(f"ADLB {param} has no scheduled visit after baseline with a change from baseline",
                          "check AVISIT/AVISITN and the baseline flag (ABLFL) of the parameter")
    if wanted is None:
        return visits[-1][0]
    text = wanted.strip().lower()
    for label, number in visits:
        if label.lower() == text or _same_number(text, number):
            return label
    listing = ", ".join(v for v, _ in visits)
    raise UsageError(f"--visit {wanted!r} is not a scheduled post-baseline visit of {param}", f"choose one of: {listing}")


def _same_number(text: str, number: float) -> bool:
    try:
        return float(text) == number
    except ValueError:
        return False


def _impute(records: pl.DataFrame, visits: list[str], impute: str | None, param: str) -> tuple[pl.DataFrame, str]:
    """The records the model uses and the rule applied: observed cases, or observed + LOCF records."""
    has_locf = records.select((pl.col("DTYPE") == "LOCF").any()).item() or False
    rule = impute if impute is not None else ("locf" if has_locf else "none")
    if rule == "none":
        return records.filter(pl.col("DTYPE").is_null()), rule
    if not has_locf:
        from trialkit.analyses.efficacy.impute import derive_locf

        bds = records.rename({"visit": "AVISIT", "visitn": "AVISITN", "y": "CHG"}).with_columns(
            pl.lit(param).alias("PARAMCD"))
        filled = derive_locf(bds.filter(pl.col("AVISIT").is_in(visits)), visits)
        records = filled.rename({"AVISIT": "visit", "AVISITN": "visitn", "CHG": "y"}).drop("PARAMCD")
    used = records.filter(pl.col("DTYPE").is_null() | (pl.col("DTYPE") == "LOCF"))
    # a visit with an observed record and a LOCF record for a missing AVAL keeps the LOCF one
    used = (used.with_columns((pl.col("DTYPE") == "LOCF").fill_null(False).alias("_locf"))
            .filter(pl.col("y").is_not_null() | pl.col("_locf"))
            .sort("USUBJID", "visitn", "_locf", maintain_order=True)
            .unique(subset=["USUBJID", "visit"], keep="last", maintain_order=True).drop("_locf"))
    return used, rule


def _one(records: pl.DataFrame, param: str, groups: list[str], s: EfficacySettings) -> dict:
    visits = scheduled_visits(records)
    primary = primary_visit(visits, s.visit, param)
    names = [v for v, _ in visits]
    used_visits = names[:names.index(primary) + 1] if s.model == "mmrm" else [primary]
    records, rule = _impute(records.filter(pl.col("visit").is_in(names)), names, s.impute, param)
    records = records.filter(pl.col("visit").is_in(used_visits))
    n_locf = int(records.select((pl.col("DTYPE") == "LOCF").sum()).item() or 0)
    present = [g for g in groups if g in set(records["group"].drop_nulls().to_list())]
    notes = []
    if len(present) < len(groups):
        notes.append(f"{param}: no record at {primary} for {', '.join(g for g in groups if g not in present)}")
    if len(present) < 2:
        raise DataError(f"ADLB {param} at {primary}: {len(present)} group(s) have records; an efficacy model "
                        "compares two or more", "choose another --visit or check the population and --arm")
    row = {"param": param, "model": s.model, "response": "CHG", "visit": primary, "n_visits": len(used_visits),
           "covariates": ", ".join(s.covariates), "impute": "LOCF" if rule == "locf" else "observed cases",
           "n_locf": n_locf}
    if s.model == "ancova":
        from trialkit.analyses.efficacy.ancova import fit_ancova

        data = records.select("USUBJID", "group", "y", *s.covariates, *(["dose"] if _doses_differ(records) else []))
        fit = fit_ancova(data, present, covariates=s.covariates, weights=s.weights, conf=s.conf_level)
        row |= {"weights": fit.weights, "n_subjects": fit.n_subjects, "n_records": fit.n_records,
                "n_dropped": fit.n_dropped, "sigma": fit.sigma, "df_resid": fit.df_resid, "converged": True}
        extra = {"dose": fit.dose_response, "covariance": None}
    else:
        from trialkit.analyses.efficacy.mmrm import fit_mmrm

        data = records.select("USUBJID", "group", "visit", "y", *s.covariates)
        fit = fit_mmrm(data, present, used_visits, covariates=s.covariates, cov=s.cov, ddfm=s.ddfm, conf=s.conf_level)
        row |= {"weights": "equal", "cov_structure": fit.cov_structure, "ddfm": fit.ddfm,
                "n_subjects": fit.n_subjects, "n_records": fit.n_records, "n_dropped": fit.n_dropped,
                "converged": fit.converged, "iterations": fit.iterations, "loglik_reml": fit.loglik_reml}
        extra = {"dose": None, "covariance": fit.covariance}
    notes += [f"{param}: {n}" for n in fit.notes]
    row["note"] = "; ".join(fit.notes) or None
    return {"row": row, "lsmeans": fit.lsmeans, "contrasts": fit.contrasts, "tests": fit.tests, **extra,
            "notes": notes}


def _doses_differ(records: pl.DataFrame) -> bool:
    """The dose-response test needs each group's TRT01AN, and two or more distinct ones."""
    doses = records.select(pl.col("dose")).to_series()
    return doses.null_count() == 0 and doses.n_unique() >= 2


def _stack(parts: list[tuple[str, pl.DataFrame | None]], schema: dict) -> pl.DataFrame:
    frames = [f.select(list(schema)).cast(schema).with_columns(pl.lit(p).alias("param")) for p, f in parts if f is not None]
    full = _with_param(schema)
    return pl.concat(frames).select(list(full)) if frames else pl.DataFrame(schema=full)


def fit_efficacy(derived: pl.DataFrame, adsl: pl.DataFrame, arms: Sequence[Arm], params: Sequence[str],
                 settings: EfficacySettings) -> EfficacyResults:
    """The settings' model on each parameter (see the module docstring); ``derived``: the stage's derived BDS,
    ``adsl``: the analysis population's subjects, ``arms``: the groups in order (the first is the reference)."""
    s = settings.check()
    if "BASE" not in s.covariates:
        s = EfficacySettings(**{**s.__dict__, "covariates": ("BASE", *s.covariates)})
    groups = [a.label for a in arms]
    fits = []
    for param in params:  # a handful of parameters
        records = efficacy_records(derived, adsl, arms, param, s.covariates)
        if records.height == 0:
            raise NoDataError(f"ADLB {param} has no record after baseline for the chosen groups",
                              "check the parameter's baseline flag (ABLFL) and visits, the population and --arm")
        fits.append((param, _one(records, param, groups, s)))
    models = pl.DataFrame([f["row"] for _, f in fits], schema=MODEL_COLUMNS) if fits else pl.DataFrame(schema=MODEL_COLUMNS)
    return EfficacyResults(
        settings=s, models=models,
        lsmeans=_stack([(p, f["lsmeans"]) for p, f in fits], LSMEANS_SCHEMA),
        contrasts=_stack([(p, f["contrasts"]) for p, f in fits], CONTRASTS_SCHEMA),
        tests=_stack([(p, f["tests"]) for p, f in fits], TESTS_SCHEMA),
        dose_response=_stack([(p, f["dose"]) for p, f in fits], DOSE_SCHEMA),
        covariance=_stack([(p, f["covariance"]) for p, f in fits], COVARIANCE_SCHEMA),
        notes=tuple(n for _, f in fits for n in f["notes"]),
    )


COV_NAMES = {"us": "unstructured", "cs": "compound symmetry", "ar1": "first-order autoregressive (AR(1))",
             "toep": "Toeplitz", "csh": "heterogeneous compound symmetry", "ar1h": "heterogeneous AR(1)",
             "toeph": "heterogeneous Toeplitz"}
DDFM_NAMES = {"kr": "Kenward-Roger (SAS DDFM=KR)", "satterthwaite": "Satterthwaite (SAS DDFM=SATTERTH)",
              "residual": "residual (SAS DDFM=RESIDUAL)"}


def method_text(eff: EfficacyResults) -> str:
    """The methods paragraph of the report, written from the settings and the fitted models."""
    s = eff.settings
    visits = ", ".join(dict.fromkeys(eff.models["visit"].to_list())) or "the last scheduled visit"
    impute = ", ".join(dict.fromkeys(eff.models["impute"].to_list())) or "observed cases"
    terms = " + ".join(("group", *s.covariates))
    weights = ("equal weights over the levels of categorical covariates (SAS LSMEANS and emmeans defaults)"
               if s.weights == "equal" else
               "weights proportional to the observed frequencies of categorical covariates (SAS OM, emmeans "
               "weights = \"proportional\")")
    conf = f"{s.conf_level:.0%}"
    if s.model == "ancova":
        return (f"ANCOVA of the change from baseline (CHG) at {visits}: CHG ~ {terms}, fitted by least squares "
                f"(R lm, SAS PROC GLM); type III F tests. LS means with numeric covariates at their mean and {weights}; "
                f"{conf} t confidence intervals. Differences against the reference group: unadjusted t tests and "
                "Dunnett-adjusted p (emmeans' dunnettx approximation); all pairs: Tukey-adjusted p. Dose-response: "
                "the t test of the group's TRT01AN as a numeric variable in place of the group. "
                f"Missing data: {impute}.")
    return (f"MMRM of the change from baseline (CHG) at every scheduled visit up to {visits}: CHG ~ {terms} + visit + "
            f"group:visit, with a {COV_NAMES[s.cov]} covariance of each subject's records across visits, fitted by "
            f"REML; denominator degrees of freedom by {DDFM_NAMES[s.ddfm]}. LS means by group and visit with numeric "
            f"covariates at their mean over the records used and {weights}; {conf} t confidence intervals; "
            "differences against the reference group at each visit; type III F tests of group, visit, group:visit "
            f"and the covariates. Missing data: {impute} (the model uses every observed visit of each subject).")


def draw_efficacy_figures(eff: EfficacyResults, groups: Sequence[str],
                          labels: dict[str, str] | None = None) -> list[tuple[str, dict[str, bytes]]]:
    """(file stem, PNG and SVG bytes) of each parameter's efficacy figures: the differences from the reference
    at the primary visit as a forest, and for an MMRM the LS means by visit; ``labels``: PARAMCD -> PARAM."""
    from trialkit.analyses.biomarkers.figures import slug
    from trialkit.analyses.efficacy.figures import figure_differences_forest, figure_lsmeans_by_visit
    from trialkit.analyses.figures import render

    labels = labels or {}
    out = []
    conf = eff.settings.conf_level
    for m in eff.models.iter_rows(named=True):
        param, visit = m["param"], m["visit"]
        name = labels.get(param) or param
        model = "ANCOVA" if m["model"] == "ancova" else f"MMRM ({m['cov_structure']}, {m['ddfm'].upper()} df)"
        contrasts = (eff.contrasts.filter((pl.col("param") == param) & (pl.col("comparison") == "vs reference"))
                     .with_columns(pl.col("visit").fill_null(visit)))
        stem = f"efficacy_{slug(param)}"
        if m["model"] == "mmrm":
            means = eff.lsmeans.filter(pl.col("param") == param)
            visits = list(dict.fromkeys(means["visit"].to_list()))
            fig = figure_lsmeans_by_visit(means, [g for g in groups if g in set(means["group"].to_list())], visits,
                                          title=f"{name}\nLS mean change from baseline by visit, {model}",
                                          ylabel=f"LS mean change from baseline ({conf:.0%} CI)")
            out.append((f"{stem}_lsmeans", render(fig, *fig.get_size_inches(), tight=False)))
        fig = figure_differences_forest(contrasts, visit=visit, conf=conf,
                                        title=f"{name}: difference from {contrasts['reference'][0]}, {model}"
                                        if contrasts.height else name,
                                        xlabel=f"Difference in LS mean change from baseline ({conf:.0%} CI)")
        out.append((f"{stem}_differences", render(fig, *fig.get_size_inches(), tight=False)))
    return out
