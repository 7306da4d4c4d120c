"""The data of a Cox model: strata, covariates and the design matrix, as R's ``coxph`` builds them.

The survival stage's analysis frame (``derive_survival_data``: USUBJID,
TRT01A, AVAL, CNSR) gets the model's variables with ``attach_variables``:
each from the endpoint's ADTTE rows when ADTTE has that column, else from
ADSL, by USUBJID. ``model_data`` then does what
``coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + <covariates> + strata(<strata>), data)``
does with its model frame:

- treatment: TRT01A as a factor with the reference arm first, so one dummy
  column per other arm ("TRT01A=Levamisole" is R's ``TRT01ALevamisole``);
- a categorical covariate (a string column, or any column given as
  ``NAME:REF``) is a factor with treatment contrasts: one dummy per level
  except the reference, which is the level after the colon, else the level
  with the smallest value of the companion numeric ``<NAME>N`` (DIFFERN for
  DIFFER), else the first level in sorted order (R's ``factor()`` default);
  the other levels follow in companion order, else sorted;
- a numeric covariate enters as it is (one column);
- strata: ``strata(A, B)`` labels, "A=a, B=b", in the ``_stratum`` column;
- rows with a missing covariate or stratum are left out, as R's default
  ``na.action = na.omit`` does -- counted and said in a note, never silently.
"""

from __future__ import annotations

from collections.abc import Sequence

import difflib
import functools
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import DataError, UsageError

__all__ = ["analysis_columns", "variable_columns", "CovariateSpec", "ModelTerm", "ModelData", "TREATMENT", "parse_covariate", "locate_variables",
           "attach_variables", "model_data", "factor_levels"]

TREATMENT = "TRT01A"
#: variables that restate the treatment: refused as covariates or strata
_TREATMENT_LIKE = {"TRT01A", "TRT01AN", "TRT01P", "TRT01PN", "ARM", "ARMCD", "ACTARM", "ACTARMCD"}
_KEYS = {"USUBJID", "STUDYID", "PARAMCD", "PARAM", "AVAL", "CNSR"}
STRATUM = "_stratum"


@dataclass(frozen=True)
class CovariateSpec:
    """One covariate as the user wrote it: ``SEX`` or ``SEX:F`` (categorical, reference level F)."""

    name: str
    reference: str | None = None


@dataclass(frozen=True)
class ModelTerm:
    """One term of the model and the design columns it owns."""

    name: str                  # TRT01A or the covariate's name
    kind: str                  # "treatment", "numeric" or "categorical"
    columns: tuple[str, ...]   # design column labels: "TRT01A=Levamisole", "SEX=M", "AGE"
    levels: tuple[str | None, ...]   # the level each column stands for (None for a numeric term)
    reference: str | None      # the reference arm / level (None for a numeric term)
    source: str | None         # the dataset the variable came from (ADTTE, ADSL), None if not known


@dataclass(frozen=True, eq=False)
class ModelData:
    """The rows of the model and its design: what ``coxph`` would fit."""

    frame: pl.DataFrame        # the analysed rows (missing covariates/strata dropped), with _stratum if stratified
    x: np.ndarray              # (n, p) design: treatment dummies first, then the covariates' columns
    columns: tuple[str, ...]   # the p design column labels
    terms: tuple[ModelTerm, ...]
    groups: tuple[str, ...]    # the analysed arms, reference first
    reference: str
    strata: tuple[str, ...]    # stratification variables (empty when none)
    notes: tuple[str, ...]
    n_dropped: int

    # computed once: the Cox fit and its proportional-hazards check both read them (read-only arrays)
    @functools.cached_property
    def time(self) -> np.ndarray:
        return _read_only(self.frame["AVAL"].to_numpy().astype(float))

    @functools.cached_property
    def event(self) -> np.ndarray:
        return _read_only((1 - self.frame["CNSR"].to_numpy()).astype(float))

    @functools.cached_property
    def strata_codes(self) -> np.ndarray | None:
        """An integer code per row for the engine, or None without strata."""
        if not self.strata:
            return None
        return _read_only(self.frame[STRATUM].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64))

    @property
    def strata_label(self) -> str | None:
        """The strata as R writes them in the formula: ``strata(SURG, SEX)``."""
        return f"strata({', '.join(self.strata)})" if self.strata else None


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# ------------------------------------------------------------------ options and variables
def parse_covariate(text: str) -> CovariateSpec:
    """``"SEX:F"`` -> CovariateSpec("SEX", "F"); ``"AGE"`` -> CovariateSpec("AGE", None)."""
    name, sep, ref = text.strip().partition(":")
    name, ref = name.strip(), ref.strip()
    if not name or (sep and not ref):
        raise UsageError(f"--covariate {text!r} is not NAME or NAME:REFERENCE",
                         "write e.g. --covariate AGE or --covariate SEX:F (F the reference level)")
    return CovariateSpec(name, ref if sep else None)


def _resolve(name: str, columns: list[str]) -> str | None:
    """The column ``name`` means: exact, else the one column equal to it ignoring case."""
    if name in columns:
        return name
    hits = [c for c in columns if c.lower() == name.lower()]
    return hits[0] if len(hits) == 1 else None


def locate_variables(adtte: pl.DataFrame, adsl: pl.DataFrame, variables: list[str]) -> dict[str, tuple[str, str]]:
    """For each requested name: (dataset, column) -- ADTTE when it has the column, else ADSL.

    A name in neither is a ``UsageError`` naming both datasets and listing near candidates.
    """
    out = {}
    tte_cols = [c for c in adtte.columns if c not in _KEYS]
    sl_cols = [c for c in adsl.columns if c not in _KEYS]
    for name in variables:
        col = _resolve(name, tte_cols)
        if col is not None:
            out[name] = ("ADTTE", col)
            continue
        col = _resolve(name, sl_cols)
        if col is not None:
            out[name] = ("ADSL", col)
            continue
        pool = sorted(set(tte_cols) | set(sl_cols))
        near = difflib.get_close_matches(name.upper(), pool, n=5, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}?" if near else "ADSL and ADTTE hold: " + ", ".join(pool[:30])
        raise UsageError(f"variable {name!r} is in neither ADTTE nor ADSL", hint)
    return out


def analysis_columns(adtte_columns: Sequence[str], adsl_columns: Sequence[str], variables: Sequence[str], *,
                     adtte_extra: Sequence[str] = (), adsl_extra: Sequence[str] = ()) -> tuple[list[str], list[str]] | None:
    """The ADTTE and ADSL columns the survival analysis reads, given the columns each dataset holds: the keys,
    the treatment variables, ADSL's population flags (*FL), ``adtte_extra``/``adsl_extra`` and each variable
    (strata, covariates, forest, subgroups) with its companion ``<NAME>N``, found as ``locate_variables`` does.

    None when a name is in neither dataset (or an extra is absent): the whole datasets are then read, and the
    analysis' own checks say what is missing, listing everything the datasets hold.
    """
    tte, sl = list(adtte_columns), list(adsl_columns)
    want_tte = {c for c in tte if c in _KEYS or c == "EVNTDESC"}
    want_sl = {c for c in sl if c in _KEYS or c in _TREATMENT_LIKE or c.upper().endswith("FL")}
    for extra, cols, want in ((adtte_extra, tte, want_tte), (adsl_extra, sl, want_sl)):
        for name in extra:
            if name not in cols:
                return None
            want.add(name)
    for name in variables:
        found = False
        for cols, want in ((tte, want_tte), (sl, want_sl)):
            col = _resolve(name, cols)
            if col is not None:
                found = True
                want.update(c for c in (col, col + "N") if c in cols)
        if not found:
            return None
    return [c for c in tte if c in want_tte], [c for c in sl if c in want_sl]


def variable_columns(adtte: pl.DataFrame, adsl: pl.DataFrame, variables: list[str],
                     present: Sequence[str] = ()) -> dict[str, list[str]]:
    """The columns each dataset contributes for ``variables`` (each with its companion ``<NAME>N``), as
    {"ADTTE": [...], "ADSL": [...]}, leaving out those ``present`` already; see ``locate_variables``."""
    where = locate_variables(adtte, adsl, variables)
    picks: dict[str, list[str]] = {"ADTTE": [], "ADSL": []}
    for dataset, col in where.values():
        frame = adtte if dataset == "ADTTE" else adsl
        for c in (col, col + "N"):
            if c in frame.columns and c not in picks[dataset] and c not in present:
                picks[dataset].append(c)
    picks["ADSL"] = [c for c in picks["ADSL"] if c not in picks["ADTTE"]]
    return picks


def attach_variables(data: pl.DataFrame, adtte: pl.DataFrame, adsl: pl.DataFrame, paramcd: str,
                     variables: list[str]) -> pl.DataFrame:
    """Add each variable (and its companion ``<NAME>N`` from the same dataset) to the analysis frame by USUBJID.

    A variable comes from the endpoint's (``paramcd``) ADTTE rows when ADTTE has the column, else from ADSL;
    the added column is named as the dataset names it. Subjects without a value get null.
    """
    require_columns(data, ("USUBJID",), dataset="the survival data", purpose="attaching model variables")
    picks = variable_columns(adtte, adsl, variables, present=data.columns)
    out = data
    if picks["ADTTE"]:
        require_columns(adtte, ("USUBJID", "PARAMCD"), dataset="ADTTE", purpose="attaching model variables")
        rows = (adtte.filter(pl.col("PARAMCD") == paramcd).select("USUBJID", *picks["ADTTE"])
                .unique(subset="USUBJID", keep="first", maintain_order=True))
        out = out.join(rows, on="USUBJID", how="left")
    if picks["ADSL"]:
        require_columns(adsl, ("USUBJID",), dataset="ADSL", purpose="attaching model variables")
        out = out.join(adsl.select("USUBJID", *picks["ADSL"]).unique(subset="USUBJID", keep="first",
                                                                        maintain_order=True), on="USUBJID", how="left")
    return out


# ------------------------------------------------------------------ levels
def _as_text(col: pl.Series) -> pl.Series:
    """Values as level labels: whole floats without ".0" (2.0 -> "2")."""
    if col.dtype.is_float():
        whole = col.drop_nulls().drop_nans()
        if whole.len() and (whole == whole.round(0)).all():
            col = col.cast(pl.Int64, strict=False)
    return col.cast(pl.String)


def _is_missing(col: pl.Series) -> pl.Series:
    miss = col.is_null()
    if col.dtype.is_float():
        miss = miss | col.is_nan()
    elif col.dtype == pl.String:
        miss = miss | (col.str.strip_chars() == "")
    return miss


def factor_levels(frame: pl.DataFrame, name: str) -> list[str]:
    """The levels of ``name`` in factor order: by the companion ``<NAME>N`` when present, else sorted."""
    text = _as_text(frame[name])
    companion = name + "N"
    if companion in frame.columns and frame[companion].dtype.is_numeric():
        pairs = (pl.DataFrame({"level": text, "order": frame[companion].cast(pl.Float64)})
                 .drop_nulls("level").group_by("level").agg(pl.col("order").min())
                 .sort("order", "level", nulls_last=True))
        return pairs["level"].to_list()
    col = frame[name]
    if col.dtype.is_numeric():
        vals = col.drop_nulls()
        vals = vals.drop_nans() if vals.dtype.is_float() else vals
        return _as_text(vals.unique().sort()).to_list()
    return sorted(set(text.drop_nulls().to_list()))


# ------------------------------------------------------------------ the model frame
def _stratum_labels(frame: pl.DataFrame, strata: list[str]) -> pl.Series:
    text = pl.DataFrame({s: _as_text(frame[s]) for s in strata})
    parts = [pl.lit(f"{s}=") + pl.col(s) for s in strata]
    return text.select(pl.concat_str(parts, separator=", ").alias(STRATUM)).to_series()


def _dummies(values: pl.Series, levels: list[str]) -> np.ndarray:
    """One 0/1 column per level (compared in polars: numpy's comparison of a million strings is ten times slower)."""
    if not levels:
        return np.zeros((len(values), 0))
    text = _as_text(values)
    out = np.empty((len(values), len(levels)))
    for j, lev in enumerate(levels):  # a loop over levels only
        out[:, j] = (text == lev).fill_null(False).to_numpy()
    return out


def model_data(data: pl.DataFrame, groups: list[str], reference: str, strata: list[str] | None = None,
               covariates: list[CovariateSpec] | None = None, sources: dict[str, tuple[str, str]] | None = None
               ) -> ModelData:
    """The rows and design of ``coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + covariates + strata(strata))``.

    ``data`` is the analysis frame with the variables attached (``attach_variables``); ``sources``
    (``locate_variables``) records where each came from. See the module docstring for the coding.
    """
    strata = list(strata or [])
    covariates = list(covariates or [])
    names = [c.name for c in covariates]
    require_columns(data, ("TRT01A", "AVAL", "CNSR", *strata, *names), dataset="the survival data",
                    purpose="the Cox model", hint="attach the model variables with attach_variables")
    src = {k: v[0] for k, v in (sources or {}).items()}
    where = lambda v: src.get(v, "the analysis data")  # noqa: E731
    if reference not in groups:
        raise DataError(f"the reference arm {reference!r} is not among the analysed arms", "pick one of: " + ", ".join(groups))
    for v in [*names, *strata]:
        if v.upper() in _TREATMENT_LIKE:
            raise UsageError(f"{v} ({where(v)}) is the treatment variable: it is already in the model as TRT01A",
                             "remove it from the covariates and strata")
    for v in set(names) & set(strata):
        raise UsageError(f"{v} ({where(v)}) is both a covariate and a stratum", "use it as one or the other")
    if len(set(names)) < len(names) or len(set(strata)) < len(strata):
        raise UsageError("a variable is given twice among the covariates or strata", "give each variable once")
    frame = data.filter(pl.col("TRT01A").is_in(groups))
    model_vars = [*strata, *names]
    missing = {v: _is_missing(frame[v]) for v in model_vars}
    any_missing = np.zeros(frame.height, dtype=bool)
    notes = []
    for v, miss in missing.items():
        k = int(miss.sum())
        if k:
            any_missing |= miss.to_numpy()
            notes.append(f"{k} subject{'s' if k != 1 else ''} with a missing {v} "
                         f"{'are' if k != 1 else 'is'} left out of the Cox model (as R's na.omit)")
    n_dropped = int(any_missing.sum())
    if len(notes) > 1:
        notes.append(f"in all {n_dropped} subjects are left out of the Cox model for missing values")
    if n_dropped == frame.height and frame.height:
        raise DataError(f"every subject has a missing {' or '.join(v for v in missing if missing[v].any())}: "
                        "no data are left for the Cox model", "choose covariates and strata with recorded values")
    frame = frame.filter(pl.Series(~any_missing))
    for v in strata:
        if frame[v].n_unique() < 2:
            only = _as_text(frame[v]).head(1).to_list()
            raise DataError(f"stratum variable {v} ({where(v)}) has a single value ({only[0] if only else ''}) among "
                            "the analysed subjects: stratifying by it changes nothing", f"drop {v} from the strata")
    columns: list[str] = []
    blocks: list[np.ndarray] = []
    terms: list[ModelTerm] = []
    arms = [g for g in groups if g != reference]
    trt_cols = tuple(f"TRT01A={g}" for g in arms)
    terms.append(ModelTerm("TRT01A", "treatment", trt_cols, tuple(arms), reference, src.get("TRT01A", "ADSL")))
    columns += trt_cols
    blocks.append(_dummies(frame["TRT01A"], arms))
    for spec in covariates:
        v, col = spec.name, frame[spec.name]
        if col.n_unique() < 2:
            only = _as_text(col).head(1).to_list()
            raise DataError(f"covariate {v} ({where(v)}) has a single value ({only[0] if only else ''}) among the "
                            "analysed subjects: it cannot be estimated", f"drop {v} from the covariates")
        categorical = spec.reference is not None or not (col.dtype.is_numeric())
        if not categorical:
            terms.append(ModelTerm(v, "numeric", (v,), (None,), None, where(v) if sources else None))
            columns.append(v)
            blocks.append(col.cast(pl.Float64).to_numpy()[:, None])
            continue
        levels = factor_levels(frame, v)
        if spec.reference is not None:
            ref = _resolve(spec.reference, levels)
            if ref is None:
                raise UsageError(f"reference level {spec.reference!r} of {v} ({where(v)}) does not exist",
                                 "its levels are: " + ", ".join(levels))
        else:
            ref = levels[0]
        others = [lev for lev in levels if lev != ref]
        cols = tuple(f"{v}={lev}" for lev in others)
        terms.append(ModelTerm(v, "categorical", cols, tuple(others), ref, where(v) if sources else None))
        columns += cols
        blocks.append(_dummies(col, others))
    if strata:
        frame = frame.with_columns(_stratum_labels(frame, strata))
    x = np.hstack(blocks) if blocks else np.zeros((frame.height, 0))
    return ModelData(frame, x, tuple(columns), tuple(terms), (reference, *arms), reference, tuple(strata),
                     tuple(notes), n_dropped)
