"""Contrasts of restricted mean survival times (RMST) between arms, normal theory as survRM2's ``rmst2``.

Each arm's RMST up to tau and its standard error are those of ``km_rmst``:

    print(survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data), rmean = tau)   # rmean, se(rmean)

For each arm other than the reference (unadjusted, as ``rmst2(time, status,
arm, tau)`` without covariates contrasts two arms):

- difference = RMST_arm - RMST_ref, se = sqrt(se_arm^2 + se_ref^2), limits
  difference -/+ z se, p = 2 P(Z > |difference| / se);
- ratio = RMST_arm / RMST_ref, on the log scale: se(log ratio) =
  sqrt(se_arm^2 / RMST_arm^2 + se_ref^2 / RMST_ref^2), limits
  exp(log ratio -/+ z se), p = 2 P(Z > |log ratio| / se).

z is the normal quantile of the confidence level. The p-values are computed
as 2 pnorm(-|x|), which rmst2's 2 (1 - pnorm(|x|)) equals up to rounding (it
loses digits only below about 1e-10).

survfit's se(rmean) and survRM2's per-arm standard error are the same number:
both are the square root of the sum over event times t <= tau of
A(t)^2 d / (Y (Y - d)), A(t) the area under S from t to tau, d the events and
Y the number at risk at t (a term with Y = d counts 0), with no n / (n - 1)
factor. tests/reference/make_km_extras_reference.R computes that sum by hand
and checks it against survmean's se(rmean) on every reference dataset and
arm (colon, veteran, pbc, the seed trial, the CDISC pilot, the edge cases):
they agree to 4.4e-16 relative, i.e. to the last bit.

Where R's arithmetic gives no finite number (a standard error of 0, an RMST
of 0) the value is null.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import UsageError

__all__ = ["CONTRAST_SCHEMA", "rmst_contrasts"]

CONTRAST_SCHEMA = {
    "arm": pl.String, "reference": pl.String, "tau": pl.Float64,
    "difference": pl.Float64, "diff_se": pl.Float64, "diff_lower": pl.Float64, "diff_upper": pl.Float64,
    "diff_p": pl.Float64,
    "ratio": pl.Float64, "ratio_lower": pl.Float64, "ratio_upper": pl.Float64, "ratio_p": pl.Float64,
}


def rmst_contrasts(rmst: pl.DataFrame, reference: str, conf_level: float = 0.95) -> pl.DataFrame:
    """arm, reference, tau, difference, diff_se, diff_lower, diff_upper, diff_p, ratio, ratio_lower, ratio_upper,
    ratio_p: each arm of ``rmst`` (``km_rmst``'s frame) against ``reference``, in ``rmst``'s order."""
    require_columns(rmst, ("arm", "tau", "rmst", "se"), dataset="the RMST table", purpose="the RMST contrasts",
                    hint="build it with km_rmst")
    if not 0 < conf_level < 1:  # also NaN
        raise UsageError(f"--conf-level {conf_level} is not between 0 and 1", "use for example --conf-level 0.95")
    arms = rmst["arm"].to_list()
    if reference not in arms:
        raise UsageError(f"the reference arm {reference!r} has no RMST", f"choose one of: {', '.join(map(str, arms))}")
    if rmst["tau"].n_unique() > 1:
        raise UsageError("the RMST table holds several restriction times (tau)", "contrast RMSTs up to one tau")
    from trialkit.analyses.probability import conf_z, normal_two_sided_p

    z = conf_z(conf_level)
    ref = rmst.filter(pl.col("arm") == reference).row(0, named=True)
    other = rmst.filter(pl.col("arm") != reference)
    r1, s1 = other["rmst"].cast(pl.Float64).fill_null(np.nan).to_numpy(), other["se"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    r0 = np.nan if ref["rmst"] is None else float(ref["rmst"])
    s0 = np.nan if ref["se"] is None else float(ref["se"])
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = r1 - r0
        diff_se = np.sqrt(s1 ** 2 + s0 ** 2)
        log_ratio = np.log(r1 / r0)
        log_se = np.sqrt(s1 ** 2 / r1 ** 2 + s0 ** 2 / r0 ** 2)
        out = pl.DataFrame({
            "arm": other["arm"], "reference": [reference] * other.height, "tau": other["tau"].cast(pl.Float64),
            "difference": diff, "diff_se": diff_se, "diff_lower": diff - z * diff_se, "diff_upper": diff + z * diff_se,
            "diff_p": normal_two_sided_p(diff / diff_se),
            "ratio": np.exp(log_ratio), "ratio_lower": np.exp(log_ratio - z * log_se),
            "ratio_upper": np.exp(log_ratio + z * log_se), "ratio_p": normal_two_sided_p(log_ratio / log_se),
        }, schema=CONTRAST_SCHEMA)
    floats = [c for c, t in CONTRAST_SCHEMA.items() if t == pl.Float64]
    return out.with_columns(pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).alias(c) for c in floats)
