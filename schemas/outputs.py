"""The tables the analysis stages write, declared once (the inputs are in ``adam.py``).

Each stage writes ``<stage>/<table>.parquet`` with the table's schema name and
version in the file metadata (``trialkit.schema``, ``trialkit.schema_version``).
The stages write through these declarations (``Stage.write_output``) and the
report and the claims check read through them (``cli/workspace.py:
read_output``), so a table that has lost a column, changed a type or comes
from another schema version is refused with the command that rewrites it.

Types are polars dtype names, as in ``spec.DTYPES``. Columns are listed in the
order the stages write them. A table is closed (exactly these columns) unless
``extra_columns`` says otherwise: the derived ADLB carries every variable of
the ingested ADLB besides the ones declared here.

Raise ``version`` of a table whenever its columns or their meaning change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Column", "OutputTable", "OUTPUTS", "output_table", "stage_tables"]


@dataclass(frozen=True)
class Column:
    """One column of an output table: its name and polars dtype name (String, Float64, Int64, Boolean, ...)."""

    name: str
    dtype: str


@dataclass(frozen=True)
class OutputTable:
    """One Parquet table a stage writes: where, under which schema name and version, with which columns."""

    stage: str
    table: str
    name: str
    version: str
    description: str
    columns: tuple[Column, ...]
    extra_columns: bool = False
    optional: bool = False  # written only by runs that compute it (a Cox fit, competing events, --forest, ...)

    @property
    def file(self) -> str:
        """The path inside the workspace."""
        return f"{self.stage}/{self.table}.parquet"

    def problems(self, dtypes: Mapping[str, str], schema: str | None = None, version: str | None = None) -> list[str]:
        """What keeps a table from matching this declaration; empty when it matches.

        ``dtypes`` maps each column to its polars dtype name; ``schema`` and
        ``version`` are the file's metadata (not checked when None).
        """
        out = []
        if schema is not None and schema != self.name:
            out.append(f"its schema is {schema!r}, not {self.name!r}")
        elif version is not None and version != self.version:
            out.append(f"it is version {version!r} of {self.name}, this trialkit reads version {self.version!r}")
        missing = [c.name for c in self.columns if c.name not in dtypes]
        if missing:
            out.append(f"column(s) {', '.join(missing)} missing")
        wrong = [f"{c.name} is {dtypes[c.name]}, not {c.dtype}" for c in self.columns
                 if c.name in dtypes and dtypes[c.name] != c.dtype]
        out.extend(wrong)
        if not self.extra_columns:
            declared = {c.name for c in self.columns}
            extra = [c for c in dtypes if c not in declared]
            if extra:
                out.append(f"undeclared column(s) {', '.join(extra)}")
        return out


def _columns(text: str) -> tuple[Column, ...]:
    """``"arm:String n:Int64"`` -> (Column("arm", "String"), Column("n", "Int64"))."""
    return tuple(Column(*item.split(":")) for item in text.split())


def _table(stage: str, table: str, description: str, columns: str, *, name: str | None = None,
           version: str = "1", extra_columns: bool = False, optional: bool = False) -> OutputTable:
    return OutputTable(stage, table, name or f"{stage}-{table.replace('_', '-')}", version, description,
                       _columns(columns), extra_columns, optional)


_SURVIVAL = (
    _table("survival", "arms", "Each analysed group in dose order: subjects and events.",
           "arm:String armcd:String trt01an:Float64 n:Int64 events:Int64"),
    _table("survival", "km", "The Kaplan-Meier table per group, as R summary(survfit), with the confidence limits' type.",
           "arm:String time:Float64 n_risk:Int64 n_event:Int64 n_censor:Int64 survival:Float64 std_err:Float64 "
           "std_err_log:Float64 lower:Float64 upper:Float64 conf_type:String conf_level:Float64"),
    _table("survival", "landmarks", "S(t) at each landmark time per group (carried forward beyond the group's last "
           "time, and then flagged extrapolated).",
           "arm:String time:Float64 n_risk:Int64 survival:Float64 std_err:Float64 lower:Float64 upper:Float64 "
           "extrapolated:Boolean conf_type:String conf_level:Float64"),
    _table("survival", "medians", "Median survival per group with its confidence limits.",
           "arm:String median:Float64 lower:Float64 upper:Float64 conf_type:String conf_level:Float64"),
    _table("survival", "rmst", "Restricted mean survival time up to tau per group (tau: --rmst-tau, else the smallest "
           "of the groups' last observed times).",
           "arm:String tau:Float64 rmst:Float64 se:Float64 extrapolated:Boolean"),
    _table("survival", "risk_table", "Numbers at risk, cumulative events and censorings at the figure's times.",
           "arm:String time:Float64 n_risk:Int64 cum_events:Int64 cum_censored:Int64"),
    _table("survival", "tests", "The weighted log-rank test over all groups (log-rank, G-rho or Fleming-Harrington), "
           "stratified when strata is set, as R survdiff.",
           "test:String rho:Float64 gamma:Float64 groups:String strata:String chisq:Float64 df:Int64 p:Float64 "
           "reason:String", version="2"),
    _table("survival", "pairwise", "Pairwise weighted log-rank tests (within the same strata) with Holm-adjusted p-values.",
           "arm_a:String arm_b:String rho:Float64 gamma:Float64 strata:String chisq:Float64 df:Int64 p:Float64 "
           "p_holm:Float64 reason:String", version="2"),
    _table("survival", "trend", "The 1-df weighted log-rank trend test with TRT01AN as scores (within the same strata).",
           "rho:Float64 gamma:Float64 groups:String strata:String scores:String u:Float64 var:Float64 chisq:Float64 "
           "df:Int64 p:Float64 reason:String", version="2"),
    _table("survival", "cox", "The Cox model's terms: hazard ratios of each arm against the reference and of each "
           "covariate (per unit, or level against its reference), as R coxph (Wald p).",
           "term:String level:String reference:String coef:Float64 se:Float64 hr:Float64 lower:Float64 upper:Float64 "
           "p:Float64 conf_level:Float64 ties:String estimable:Boolean reason:String", version="2"),
    _table("survival", "quantiles", "The 25%, 50% and 75% quantiles of the time to event per group with their "
           "confidence limits, as R quantile(survfit).",
           "arm:String prob:Float64 time:Float64 lower:Float64 upper:Float64 conf_type:String conf_level:Float64"),
    _table("survival", "follow_up", "Median follow-up by the reverse Kaplan-Meier method, all subjects and per group, "
           "with log confidence limits.",
           "group:String n:Int64 median:Float64 lower:Float64 upper:Float64"),
    _table("survival", "rmst_contrasts", "RMST differences and ratios of each group against the reference, with "
           "confidence limits and p (normal approximation, as survRM2 rmst2).",
           "arm:String reference:String tau:Float64 difference:Float64 diff_se:Float64 diff_lower:Float64 "
           "diff_upper:Float64 diff_p:Float64 ratio:Float64 ratio_lower:Float64 ratio_upper:Float64 ratio_p:Float64", optional=True),
    _table("survival", "cox_tests", "The Cox model's likelihood-ratio, Wald and score tests, as summary(coxph).",
           "test:String chisq:Float64 df:Int64 p:Float64 n:Int64 events:Int64 strata:String ties:String", optional=True),
    _table("survival", "zph", "The proportional-hazards check per term and globally, as R cox.zph.",
           "term:String chisq:Float64 df:Int64 p:Float64 transform:String", optional=True),
    _table("survival", "forest", "Hazard ratios within each level of the subgroup variables, with the treatment-by-"
           "subgroup interaction p (likelihood-ratio test).",
           "variable:String level:String arm:String reference:String n:Int64 events:Int64 hr:Float64 lower:Float64 "
           "upper:Float64 p:Float64 estimable:Boolean reason:String p_interaction:Float64 interaction_df:Int64", optional=True),
    _table("survival", "cif", "Cumulative incidence by group and event type (Aalen-Johansen) at each time, with the "
           "cmprsk standard error and log(-log) limits.",
           "arm:String event:String time:Float64 n_risk:Int64 n_event:Int64 estimate:Float64 std_err:Float64 "
           "lower:Float64 upper:Float64", optional=True),
    _table("survival", "cif_landmarks", "Cumulative incidence by group and event type at each landmark time.",
           "arm:String event:String time:Float64 n_risk:Int64 estimate:Float64 std_err:Float64 lower:Float64 "
           "upper:Float64 extrapolated:Boolean", optional=True),
    _table("survival", "gray", "Gray's test of equal cumulative incidence across groups, per event type.",
           "event:String chisq:Float64 df:Int64 p:Float64 rho:Float64 strata:String reason:String", optional=True),
)

_BIOMARKERS = (
    _table("biomarkers", "adlb", "The derived BDS: ADLB with the derived scores' rows and ABLFL, BASE, CHG, PCHG "
           "(besides the ingested ADLB's own variables).",
           "USUBJID:String PARAMCD:String AVAL:Float64 ABLFL:String BASE:Float64 CHG:Float64 PCHG:Float64",
           extra_columns=True),
    _table("biomarkers", "summaries", "Descriptive statistics of AVAL and CHG per parameter, visit and group.",
           "param:String visitn:Float64 visit:String arm:String arm_order:Int64 param_label:String category:String "
           "unit:String n:Int64 mean:Float64 sd:Float64 se:Float64 median:Float64 q1:Float64 q3:Float64 min:Float64 "
           "max:Float64 chg_n:Int64 chg_mean:Float64 chg_sd:Float64 chg_se:Float64 chg_median:Float64 chg_q1:Float64 "
           "chg_q3:Float64 chg_min:Float64 chg_max:Float64 n_no_base:Int64 note:String"),
    _table("biomarkers", "within", "Change from baseline within each group and visit: mean, CI and test.",
           "param:String arm:String arm_order:Int64 visit:String visitn:Float64 n:Int64 mean_change:Float64 "
           "sd:Float64 se:Float64 lower:Float64 upper:Float64 median_change:Float64 test:String statistic:Float64 "
           "df:Float64 p:Float64 p_adj:Float64 adjust:String note:String"),
    _table("biomarkers", "between", "Between-group tests of AVAL and CHG at each visit.",
           "param:String variable:String visit:String visitn:Float64 test:String n_groups:Int64 n:Int64 "
           "statistic:Float64 df1:Float64 df2:Float64 p:Float64 p_adj:Float64 adjust:String note:String"),
    _table("biomarkers", "models", "The mixed model of CHG per parameter: Wald F tests of its terms and the fit.",
           "param:String method:String formula:String test:String n_obs:Int64 n_subjects:Int64 n_groups:Int64 "
           "n_visits:Int64 interaction_f:Float64 interaction_df1:Float64 interaction_df2:Float64 interaction_p:Float64 "
           "group_f:Float64 group_df1:Float64 group_df2:Float64 group_p:Float64 visit_f:Float64 visit_df1:Float64 "
           "visit_df2:Float64 visit_p:Float64 base_mean:Float64 sigma:Float64 sd_subject:Float64 "
           "loglik_reml:Float64 converged:Boolean note:String"),
    _table("biomarkers", "marginal_means", "Model-based mean change per group and visit with a 95% t CI (df as "
           "emmeans' containment rule for nlme::lme).",
           "param:String arm:String arm_order:Int64 visit:String visitn:Float64 estimate:Float64 se:Float64 "
           "df:Float64 lower:Float64 upper:Float64", version="2"),
    _table("biomarkers", "coefficients", "The mixed models' fixed effects.",
           "param:String term:String estimate:Float64 se:Float64"),
    _table("biomarkers", "baseline", "How each parameter's baseline was found (flagged, imputed, none).",
           "PARAMCD:String N_SUBJECTS:UInt32 N_FLAGGED:UInt32 N_IMPUTED:UInt32 N_NO_BASELINE:UInt32 "
           "N_RECORDS_NO_CHG:UInt32"),
    _table("biomarkers", "base_check", "Records whose source BASE differs from the BASE trialkit derives.",
           "USUBJID:String PARAMCD:String AVISIT:String AVISITN:Float64 BASE_SRC:Float64 BASE:Float64"),
    _table("biomarkers", "score_check", "Reported scores that disagree with the scores trialkit derives.",
           "USUBJID:String AVISIT:String AVISITN:Float64 REPORTED:String DERIVED:String REPORTED_VALUE:Float64 "
           "DERIVED_VALUE:Float64 DIFFERENCE:Float64"),
    _table("biomarkers", "score_compared", "Reported and derived scores compared: records and disagreements.",
           "REPORTED:String DERIVED:String N_COMPARED:Int64 N_DISAGREE:Int64"),
    _table("biomarkers", "skipped", "Parameters not analysed as measurements, with the reason.",
           "PARAMCD:String REASON:String"),
    # --model ancova / mmrm (analyses/biomarkers/efficacy.py)
    _table("biomarkers", "efficacy_models", "The efficacy model of each parameter: what was fitted, to how many "
           "subjects and records, and how it converged.",
           "param:String model:String response:String visit:String n_visits:Int64 covariates:String weights:String "
           "cov_structure:String ddfm:String impute:String n_subjects:Int64 n_records:Int64 n_dropped:Int64 "
           "n_locf:Int64 sigma:Float64 df_resid:Float64 converged:Boolean iterations:Int64 loglik_reml:Float64 "
           "note:String", optional=True),
    _table("biomarkers", "efficacy_lsmeans", "LS means of the change from baseline per group (and visit) with SE, df "
           "and t confidence interval.",
           "param:String visit:String group:String estimate:Float64 se:Float64 df:Float64 lower:Float64 upper:Float64 "
           "n:Int64", optional=True),
    _table("biomarkers", "efficacy_contrasts", "Differences of LS means: each group minus the reference (and every "
           "pair, ANCOVA), with t tests, confidence intervals and adjusted p.",
           "param:String visit:String group:String reference:String comparison:String estimate:Float64 se:Float64 "
           "df:Float64 t:Float64 p:Float64 lower:Float64 upper:Float64 adjust:String p_adjusted:Float64",
           optional=True),
    _table("biomarkers", "efficacy_tests", "Type III F tests of the efficacy model's terms.",
           "param:String term:String num_df:Float64 den_df:Float64 f:Float64 p:Float64", optional=True),
    _table("biomarkers", "efficacy_dose", "ANCOVA dose-response: the t test of TRT01AN as a numeric variable.",
           "param:String term:String estimate:Float64 se:Float64 df:Float64 t:Float64 p:Float64", optional=True),
    _table("biomarkers", "efficacy_covariance", "MMRM: the estimated covariance of a subject's records across visits.",
           "param:String row_visit:String col_visit:String value:Float64", optional=True),
)

_SAFETY = (
    _table("safety", "population", "The safety population per group.", "arm:String order:Int64 n:Int64"),
    _table("safety", "overview", "The TEAE overview: subjects with any TEAE, serious, related, ... per group.",
           "category:String order:Int64 arm:String n:Int64 subjects:Int64 percent:Float64"),
    _table("safety", "incidence", "TEAE incidence by system organ class and preferred term: n (%) [AEs].",
           "row:Int64 level:String soc:String pt:String arm:String order:Int64 n:Int64 subjects:Int64 "
           "percent:Float64 events:Int64"),
    _table("safety", "fisher", "Fisher's exact test of each incidence row against the reference group.",
           "row:Int64 level:String soc:String pt:String arm:String reference:String subjects:Int64 n:Int64 "
           "ref_subjects:Int64 ref_n:Int64 p:Float64"),
    _table("safety", "severity", "Subjects by maximum severity per SOC and PT.",
           "level:String soc:String pt:String severity:String severity_order:Int64 arm:String n:Int64 "
           "subjects:Int64 percent:Float64"),
    _table("safety", "sae", "The serious adverse event listing.",
           "usubjid:String arm:String soc:String pt:String term:String onset_day:Float64 severity:String "
           "related:String outcome:String teae:Boolean", name="safety-sae-listing"),
    _table("safety", "deaths", "The death listing.",
           "usubjid:String arm:String source:String term:String onset_day:Float64 outcome:String death_day:Float64",
           name="safety-death-listing"),
    _table("safety", "risk_differences", "Risk differences against the reference group for the most frequent terms.",
           "soc:String pt:String rank:Int64 arm:String reference:String subjects:Int64 n:Int64 risk:Float64 "
           "ref_risk:Float64 rd:Float64 lower:Float64 upper:Float64"),
    _table("safety", "onset", "TEAEs by onset relative to the most recent infusion (only with ADEX).",
           "window:String window_order:Int64 arm:String n:Int64 events:Int64 subjects:Int64 percent:Float64"),
    _table("safety", "onset_terms", "Preferred terms by onset window (only with ADEX).",
           "pt:String window:String window_order:Int64 arm:String events:Int64 subjects:Int64"),
    _table("safety", "liver_peaks", "Each subject's peak ALT, AST and bilirubin (x ULN, x baseline) and quadrants "
           "(only with ADLB).",
           "usubjid:String arm:String alt_uln:Float64 ast_uln:Float64 bili_uln:Float64 alt_xbl:Float64 "
           "ast_xbl:Float64 bili_xbl:Float64 hys_law:Boolean mdish:Boolean edish_quadrant:String "
           "mdish_quadrant:String"),
    _table("safety", "hys_law", "Potential Hy's law cases (only with ADLB).",
           "usubjid:String arm:String alt_uln:Float64 ast_uln:Float64 bili_uln:Float64"),
    _table("safety", "liver_shift", "Shift from baseline to worst post-baseline category (only with ADLB).",
           "param:String test:String arm:String baseline:String worst:String n:Int64 subjects:Int64 percent:Float64"),
)

#: every declared output table, by (stage, table)
OUTPUTS: dict[tuple[str, str], OutputTable] = {(t.stage, t.table): t for t in (*_SURVIVAL, *_BIOMARKERS, *_SAFETY)}


def output_table(stage: str, table: str) -> OutputTable | None:
    """The declaration of ``<stage>/<table>.parquet``, or None when the stage writes no such table."""
    return OUTPUTS.get((stage, table))


def stage_tables(stage: str) -> tuple[OutputTable, ...]:
    """Every table ``stage`` may write, in declaration order."""
    return tuple(t for t in OUTPUTS.values() if t.stage == stage)
