"""The biomarkers stage as one pure function: derivations, statistics, model, and the JSON contract.

``analyse_biomarkers`` takes ADLB and ADSL as read from the workspace and returns every
result frame; ``results_json`` turns them into the ``--format json`` object (also written to
biomarkers/biomarkers.json). No file I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from trialkit.analyses.biomarkers import derive as dv
from trialkit.analyses.biomarkers.summaries import (
    ADJUSTMENTS, BETWEEN_TESTS, TESTS, analysis_data, continuous_params, count_baselines,
    summarise_by_visit, test_between_groups, test_change_within,
)
from trialkit.schemas.errors import NoDataError, UsageError
from trialkit.analyses.groups import Arm
from trialkit.analyses.biomarkers.longitudinal import FORMULA, INTERACTION_TEST, METHOD, fit_change_models
from trialkit.analyses.biomarkers.efficacy import EfficacyResults, EfficacySettings

__all__ = ["DERIVERS", "BiomarkerResults", "parse_derive", "analyse_biomarkers", "settings_of", "results_json"]

DERIVERS = {
    "meld": dv.derive_param_meld,
    "meldna": dv.derive_param_meldna,
    "childpugh": dv.derive_param_child_pugh,
    "albi": dv.derive_param_albi,
}
ALIASES = {"child-pugh": "childpugh", "cp": "childpugh", "meld-na": "meldna"}


@dataclass(frozen=True)
class BiomarkerResults:
    """Every output of the stage; frames have fixed columns (see the functions that make them)."""

    adlb: pl.DataFrame  # derived BDS: ADLB + ABLFL, BASE, CHG, PCHG (+ BASE_SRC) + derived parameters
    data: pl.DataFrame  # analysis records of the chosen groups (analysis_data)
    arms: tuple[Arm, ...]
    params: tuple[str, ...]
    skipped: pl.DataFrame
    derived: tuple[str, ...]
    summaries: pl.DataFrame
    within: pl.DataFrame
    between: pl.DataFrame
    models: pl.DataFrame
    marginal_means: pl.DataFrame
    coefficients: pl.DataFrame
    baseline: pl.DataFrame
    base_check: pl.DataFrame
    score_compared: pl.DataFrame
    score_disagreements: pl.DataFrame
    test: str
    adjust: str
    notes: tuple[str, ...] = field(default=())
    efficacy: EfficacyResults | None = None  # --model ancova / mmrm

    def tables(self) -> dict[str, pl.DataFrame]:
        """Name -> frame, as written to biomarkers/<name>.parquet (the efficacy_* tables with --model)."""
        extra = self.efficacy.tables() if self.efficacy is not None else {}
        return extra | {"adlb": self.adlb, "summaries": self.summaries, "within": self.within, "between": self.between,
                "models": self.models, "marginal_means": self.marginal_means, "coefficients": self.coefficients,
                "baseline": self.baseline, "base_check": self.base_check, "score_check": self.score_disagreements,
                "score_compared": self.score_compared, "skipped": self.skipped}


def parse_derive(value: str | None, adlb: pl.DataFrame) -> list[str]:
    """--derive: None = every derivation whose inputs are in ADLB; "none" = none; else a comma list."""
    available = dv.derivable(adlb)
    if value is None:
        return available
    names = [ALIASES.get(v.strip().lower(), v.strip().lower()) for v in value.split(",") if v.strip()]
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in DERIVERS]
    if unknown:
        raise UsageError(f"--derive {', '.join(unknown)}: unknown derivation",
                         f"use a comma list of {', '.join(DERIVERS)}, or none")
    for n in names:
        if n not in available:
            inputs = dv.DERIVATIONS[n][0]
            raise UsageError(f"--derive {n}: ADLB lacks its inputs (it needs PARAMCD {', '.join(inputs)})",
                             f"derivable from this ADLB: {', '.join(available) or 'nothing'}")
    return list(dict.fromkeys(names))


def analyse_biomarkers(adlb: pl.DataFrame, adsl: pl.DataFrame, arms: list[Arm], *, params: list[str] | None = None,
                       derive: list[str] | None = None, test: str = "t", adjust: str = "none",
                       efficacy: EfficacySettings | None = None) -> BiomarkerResults:
    """Derive, summarise, test and model; ``derive`` None means every derivable score. ``efficacy``: an
    ANCOVA or MMRM (``efficacy.fit_efficacy``) of each of ``params``, which must then be given.

    ADLB as given is not kept: its derived copy (one chunk) replaces it, so a caller that hands over its only
    reference holds one copy of ADLB at a time, not two.

    BLAS runs on one thread here: the models are many small matrix operations (a REML profile evaluated some
    70 times per parameter), for which BLAS's threads cost more than they give -- 2.2 times slower on two
    cores at a million lab records."""
    from threadpoolctl import threadpool_limits

    if test not in TESTS:
        raise UsageError(f"--test {test}: unknown test", f"use one of {', '.join(TESTS)}")
    if adjust not in ADJUSTMENTS:
        raise UsageError(f"--adjust {adjust}: unknown adjustment", f"use one of {', '.join(ADJUSTMENTS)}")
    names = dv.derivable(adlb) if derive is None else derive
    with_scores = dv.derive_params(adlb, names).rechunk()
    del adlb
    with threadpool_limits(limits=1, user_api="blas"):
        return _analyse_derived(with_scores, adsl, arms, names, params=params, test=test, adjust=adjust,
                                efficacy=efficacy)


def _analyse_derived(with_scores: pl.DataFrame, adsl: pl.DataFrame, arms: list[Arm], names: list[str], *,
                     params: list[str] | None, test: str, adjust: str,
                     efficacy: EfficacySettings | None) -> BiomarkerResults:
    derived = dv.derive_vars_base_chg(with_scores)
    flags_in = with_scores.select([c for c in ("USUBJID", "PARAMCD", "ABLFL") if c in with_scores.columns])
    data = analysis_data(derived, adsl, arms)
    if data.height == 0:
        raise NoDataError("ADLB has no records for the chosen groups",
                          "check --arm, and that ADLB's USUBJIDs are in ADSL")
    chosen, skipped = continuous_params(data, params)
    if not chosen:
        why = "; ".join(f"{r['PARAMCD']}: {r['REASON']}" for r in skipped.iter_rows(named=True))
        raise NoDataError(f"no parameter to analyse as a measurement ({why})",
                          "choose continuous parameters with --param")
    models = fit_change_models(data, chosen, arms)
    with_data = set(data.get_column("ARM").unique().to_list())
    fitted = None
    if efficacy is not None:
        from trialkit.analyses.biomarkers.efficacy import fit_efficacy

        if not params:
            raise UsageError(f"--model {efficacy.model} needs the endpoint: name it with --param",
                             f"for example --param {chosen[0]} --model {efficacy.model}")
        present = [a for a in arms if a.label in with_data]
        fitted = fit_efficacy(derived, adsl, present, chosen, efficacy)
    score = dv.check_reported_scores(derived)
    notes = []
    if adjust == "none":
        notes.append("p-values are not adjusted for multiplicity across visits (--adjust none); p_adj = p")
    empty = [a.label for a in arms if a.label not in with_data]
    if empty:
        notes.append(f"no ADLB records for group(s) {', '.join(empty)}: they appear with n = 0")
    return BiomarkerResults(
        adlb=derived, data=data, arms=tuple(arms), params=tuple(chosen), skipped=skipped, derived=tuple(names),
        summaries=summarise_by_visit(data, chosen, arms),
        within=test_change_within(data, chosen, arms, test, adjust),
        between=test_between_groups(data, chosen, arms, test, adjust),
        models=models.models, marginal_means=models.marginal_means, coefficients=models.coefficients,
        baseline=count_baselines(flags_in, derived), base_check=dv.check_base(derived),
        score_compared=score.compared, score_disagreements=score.disagreements,
        test=test, adjust=adjust, notes=tuple(notes) + (fitted.notes if fitted is not None else ()), efficacy=fitted,
    )


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _rows(df: pl.DataFrame) -> list[dict]:
    return _clean(df.to_dicts())


def settings_of(res: BiomarkerResults) -> dict:
    return {
        "test": res.test,
        "within_test": TESTS[res.test],
        "between_test": BETWEEN_TESTS[res.test],
        "adjust": res.adjust,
        "adjust_method": ADJUSTMENTS[res.adjust],
        "adjust_scope": "across the visits of one parameter (within one group for 'within'; "
                        "per variable for 'between')",
        "alpha": 0.05,
        "arms": [a.label for a in res.arms],
        "params": list(res.params),
        "derive": list(res.derived),
        "baseline": "ABLFL = 'Y'; without a flag, the last non-missing AVAL on or before day 1 (ADY <= 1, "
                    "else AVISITN <= 1); CHG on records after the baseline visit only",
        "quantiles": "type 7 (R default, numpy 'linear')",
        "ci": "95% t interval for the mean change",
        "wilcoxon": "as R wilcox.test defaults: zeros dropped; exact if < 50 non-zero changes without ties, "
                    "else normal approximation with continuity correction; statistic V; no test when n < 2 "
                    "(R gives p = 1 for one non-zero change)",
        "between": "'between' compares AVAL at every visit (in the figures, the letter after the groups' letters: d with three groups); "
                   "'between_change' compares CHG after baseline",
        "model": METHOD,
        "model_formula": FORMULA,
        "interaction_test": INTERACTION_TEST,
        "marginal_means": "fixed-effect combination at the mean BASE of the fitted records; 95% t CI with emmeans' "
                          "containment df for nlme::lme (the smallest df of the coefficients used)",
        "derivations": {"MELDD": dv.MELD_NOTE, "MELDNA": dv.MELDNA_NOTE, "CPSCORED": dv.CP_NOTE, "ALBI": dv.ALBI_NOTE},
    }


def results_json(res: BiomarkerResults, figures: list[str] | None = None) -> dict:
    """The --format json object: the issue's four keys plus settings and the checks."""
    between = res.between
    return {
        "settings": settings_of(res),
        "summaries": _rows(res.summaries),
        "within": _rows(res.within),
        "between": _rows(between.filter(pl.col("variable") == "AVAL")),
        "between_change": _rows(between.filter(pl.col("variable") == "CHG")),
        "models": _rows(res.models),
        "marginal_means": _rows(res.marginal_means),
        "score_check": {"compared": _rows(res.score_compared), "disagreements": _rows(res.score_disagreements)},
        "baseline": _rows(res.baseline),
        "base_check": {"n_records_differ": res.base_check.height, "first": _rows(res.base_check.head(20))},
        "skipped": _rows(res.skipped),
        "figures": figures or [],
        "notes": list(res.notes),
    } | ({"efficacy": efficacy_json(res.efficacy)} if res.efficacy is not None else {})


def efficacy_json(eff: EfficacyResults) -> dict:
    """The efficacy model's settings, method and tables, as in biomarkers.json."""
    from trialkit.analyses.biomarkers.efficacy import method_text

    return {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in eff.settings.__dict__.items()},
            "method": method_text(eff), **{name.removeprefix("efficacy_"): _rows(frame)
                                             for name, frame in eff.tables().items()}}
