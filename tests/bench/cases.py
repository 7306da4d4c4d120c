"""What `make bench` times: one Case per command, with its targets where the issues set them.

Placeholders in argv: {trialkit} the installed command, {python} the
interpreter running the bench, {bench} this folder, {seed} a workspace
holding the built-in trial, {pilot} the CDISC pilot folder, {pilot_ws} a
workspace holding it, {seed_dir} the built-in trial's CSV folder, {root}
the repository; for a case on a synthetic trial (``size``, see
synthetic.py): {syn_dir} its Parquet folder, {syn_ws} a workspace holding
it, {syn_rds} R's copy of it (r/make_rds.R).

A case's ``versus`` are other commands doing comparable work, each timed
side by side with the case in the same run: ``target`` is the largest
allowed ratio of trialkit's median wall time to the other's. An Other with
``compute`` prints a line BENCH_COMPUTE_S=<seconds>, the time of its
computation alone (R's survfit + survdiff + coxph without R's start and
reading), and the ratio is taken to that; its whole wall time is reported
too. ``needs`` names what must be present to run it ("R": Rscript,
"lifelines": importable); when absent it is skipped with the reason shown.

A case's ``versus_case`` names another trialkit case of the same run (one
listed before it): ``target_ratio`` is then the largest allowed ratio of
this case's wall time to that one's (biomarkers with figures against
biomarkers --no-plot).

The scale cases (``scale_size``) have {sc_dir} the simulated trial's
Parquet folder, {sc_ws} a workspace holding it, {sc_r} the folder of R's
copies, {sc_csv} the same trial as foreign-shaped CSV (scale_data.py's
adam-csv/: columns reversed, two extra variables) and {sc_ws_csv} a
workspace holding that; ``source="csv"`` says a case works on the latter.
{sc_ws_figures} is a fresh copy of {sc_ws} as it stands when the case
starts: biomarkers with figures runs there, so that the report of {sc_ws}
holds the same outputs at every size (figures only up to 100,000 subjects
would make its time, and so its scaling exponent, compare unlike reports).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Other:
    label: str
    argv: tuple[str, ...]
    target: float | None = None
    compute: bool = False
    needs: str | None = None
    timeout_s: float | None = None  # stop it after this long; the ratio is then a bound (trialkit / timeout)


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    target_s: float | None = None
    needs_pilot: bool = False
    versus: tuple[Other, ...] = ()
    target_mib: float | None = None
    size: int | None = None  # a synthetic trial of this many subjects
    needs_workspace: bool = False  # the synthetic trial ingested into {syn_ws} first
    runs: int | None = None  # at most this many timed runs (big data)
    warmup: bool = True
    mmrm_size: int | None = None  # a synthetic longitudinal trial of this many subjects (mmrm_synthetic.py)
    scale_size: int | None = None  # a simulated trial of this many subjects (scale_data.py)
    output: str | None = None  # a file the command writes, whose size is reported (placeholders allowed)
    target_output_mib: float | None = None
    source: str = "parquet"  # scale cases: the workspace ingested from "parquet" ({sc_ws}) or "csv" ({sc_ws_csv})
    versus_case: str | None = None  # the name of an earlier case of the same run, compared by wall time
    target_ratio: float | None = None  # at most this times versus_case's wall time


CASES: list[Case] = [
    Case("trialkit --help", ("{trialkit}", "--help"), target_s=0.3),
    Case("trialkit survival --help", ("{trialkit}", "survival", "--help")),
    Case("ingest (built-in trial)", ("{trialkit}", "ingest", "-w", "{seed}"), target_s=1.5),
    Case("validate (built-in trial)", ("{trialkit}", "validate", "-w", "{seed}"), target_s=1.5),
    Case("ingest (CDISC pilot)", ("{trialkit}", "ingest", "{pilot}", "-w", "{pilot_ws}"), needs_pilot=True),
    Case("validate (CDISC pilot)", ("{trialkit}", "validate", "-w", "{pilot_ws}"), needs_pilot=True),
    Case("safety (built-in trial)", ("{trialkit}", "safety", "-w", "{seed}")),
    Case("safety (CDISC pilot)", ("{trialkit}", "safety", "-w", "{pilot_ws}"), needs_pilot=True),
    # issue 3: trialkit survival against R's survfit + survdiff on the same data, doing the same
    # work (KM, landmarks, log-rank): no figure, no Cox model (scikit-survival's import alone is
    # about 1.7 s). The full command is timed below without a target.
    Case("survival --no-plot --no-cox (built-in trial)", ("{trialkit}", "survival", "-w", "{seed}", "--times", "6m,2y", "--no-plot", "--no-cox"),
         versus=(Other("R", ("Rscript", "-e", "suppressPackageStartupMessages(library(survival)); "
                 "t <- read.csv('{seed_dir}/adtte.csv'); s <- read.csv('{seed_dir}/adsl.csv'); "
                 "d <- merge(t[t$PARAMCD == 'OS', ], s[, c('USUBJID', 'TRT01A')], by = 'USUBJID'); "
                 "f <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d); print(summary(f, times = c(182.625, 730.5))); "
                 "print(survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d))"), target=1.0, needs="R"),)),
    # the full command (Cox model and figure) against R's survfit + survdiff + coxph on the same CSV files,
    # R's start and reading included (r/survival_seed.R)
    Case("survival (built-in trial)", ("{trialkit}", "survival", "-w", "{seed}"),
         versus=(Other("R", ("Rscript", "{bench}/r/survival_seed.R", "{seed_dir}"), target=1.0, needs="R"),)),
    Case("survival --no-plot (built-in trial)", ("{trialkit}", "survival", "-w", "{seed}", "--no-plot")),
    Case("survival (CDISC pilot)", ("{trialkit}", "survival", "-w", "{pilot_ws}"), needs_pilot=True),
    # issue 4: biomarkers; the figures dominate (about 12 PNG+SVG pairs on the built-in trial)
    Case("biomarkers (built-in trial)", ("{trialkit}", "biomarkers", "-w", "{seed}")),
    Case("biomarkers --no-plot (built-in trial)", ("{trialkit}", "biomarkers", "-w", "{seed}", "--no-plot")),
    Case("biomarkers (CDISC pilot)", ("{trialkit}", "biomarkers", "-w", "{pilot_ws}"), needs_pilot=True),
    # issue 9: an analysis plan of six analyses of the CDISC pilot (docs/examples/cdiscpilot01-plan.toml) in one
    # process, against the same six stage commands run one by one (each re-reads, re-checks and re-imports)
    Case("run: plan of six analyses (CDISC pilot)",
         ("{trialkit}", "run", "{root}/docs/examples/cdiscpilot01-plan.toml", "-w", "{pilot_ws}"), needs_pilot=True,
         versus=(Other("six commands", ("sh", "-c", "set -e; T='{trialkit}'; W='{pilot_ws}'; "
                 "$T safety --sort frequency -w $W >/dev/null; "
                 "$T safety --name safety-female --subgroup SEX=F --sort frequency --no-plot -w $W >/dev/null; "
                 "$T survival -w $W >/dev/null; "
                 "$T survival --name survival-high-vs-placebo --arm high --arm placebo --parity r -w $W >/dev/null; "
                 "$T survival --name survival-over-80 --subgroup 'AGEGR1=>80' --no-plot -w $W >/dev/null; "
                 "$T survival --name survival-efficacy --population EFFFL --no-plot -w $W >/dev/null"),
               target=1.0),)),
    # issue 6: after the three stages above have written their outputs
    Case("report (built-in trial)", ("{trialkit}", "report", "-w", "{seed}")),
    Case("report --format md (built-in trial)", ("{trialkit}", "report", "-w", "{seed}", "--format", "md")),
]


# Issue 11: survival at scale, on synthetic trials of BENCH_SIZES subjects (tests/bench/synthetic.py).
SURVIVAL_OPTIONS = ("--strata", "STRAT1", "--strata", "STRAT2", "--covariate", "AGE", "--covariate", "SEX")
#: The sizes whose targets count: at 10,000 subjects process start-up dominates every command.
BIG = 1_000_000


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def synthetic_cases(n: int) -> list[Case]:
    """Ingest, then the stratified Cox analysis against R and lifelines, then KM + log-rank against a floor."""
    big = dict(runs=1, warmup=False) if n >= 100_000 else dict(runs=3)
    survival = ("{trialkit}", "survival", "-w", "{syn_ws}", "--no-plot")
    return [
        Case(f"ingest ({label(n)} subjects)", ("{trialkit}", "ingest", "{syn_dir}", "-w", "{syn_ws}"), size=n, **big),
        # as a user does: validate once, and the stages trust the bytes it checked (validation.json)
        Case(f"validate ({label(n)} subjects)", ("{trialkit}", "validate", "-w", "{syn_ws}"), size=n,
             needs_workspace=True, **big),
        # trialkit's whole command against the computation alone in R (its start and readRDS excluded)
        # and in lifelines (its import and reading excluded)
        Case(f"survival +strata+cov ({label(n)})", (*survival, *SURVIVAL_OPTIONS), size=n, needs_workspace=True,
             target_mib=2048 if n >= BIG else None,
             versus=(Other("R", ("Rscript", "{bench}/r/survival_synthetic.R", "{syn_rds}"),
                           target=0.25 if n >= BIG else None, compute=True, needs="R"),
                     Other("lifelines", ("{python}", "{bench}/lifelines_cox.py", "{syn_ws}"), compute=True,
                           needs="lifelines")), **big),
        # KM + log-rank against the bare group-by-time that any Kaplan-Meier estimate needs (km_floor.py)
        Case(f"survival --no-cox ({label(n)})", (*survival, "--no-cox"), size=n, needs_workspace=True,
             versus=(Other("polars floor", ("{python}", "{bench}/km_floor.py", "{syn_ws}"), target=3.0),), **big),
    ]


def sizes() -> list[int]:
    """BENCH_SIZES: comma-separated numbers of subjects (default 10000,100000,1000000; empty for none)."""
    text = os.environ.get("BENCH_SIZES", "10000,100000,1000000")
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


# Issue 12: the MMRM (unstructured, 8 visits, 3 groups) on synthetic longitudinal trials of BENCH_MMRM_SIZES
# subjects (mmrm_synthetic.py), against nlme::gls's fit alone (r/mmrm_gls.R; its start and reading excluded).
#: R's gls is stopped after this many seconds (at 20,000 subjects it runs for hours): the ratio is then at most
#: trialkit's time over this
MMRM_R_TIMEOUT_S = 600.0


def mmrm_sizes() -> list[int]:
    """BENCH_MMRM_SIZES: comma-separated numbers of subjects (default 2000,20000; empty for none)."""
    text = os.environ.get("BENCH_MMRM_SIZES", "2000,20000")
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def mmrm_cases(n: int) -> list[Case]:
    """trialkit's whole biomarkers command with the MMRM against R's gls fit alone."""
    return [Case(f"biomarkers --model mmrm ({label(n)})",
                 ("{trialkit}", "biomarkers", "-w", "{mmrm_ws}", "--param", "SCORE", "--model", "mmrm",
                  "--derive", "none", "--no-plot"),
                 mmrm_size=n, runs=1, warmup=False,
                 versus=(Other("R nlme::gls", ("Rscript", "{bench}/r/mmrm_gls.R", "{mmrm_dir}"), target=1.0,
                               compute=True, needs="R", timeout_s=MMRM_R_TIMEOUT_S),))]


# Issue 13: the scale suite (`make bench-scale`), on trials simulated by `trialkit simulate` of BENCH_SCALE_SIZES
# subjects (scale_data.py: about 5 AEs per subject; labs, 10 parameters x 8 visits, for at most 125,000 subjects).
# Each stage in pipeline order on one workspace, with its peak memory, and R doing the same work where R does it.
SCALE_MIB = 8192
SCALE_R_TIMEOUT_S = 600.0
#: the foreign-shaped CSV variant (scale_data.adam_csv), named in its cases
CSV_VARIANT = "CSV reversed + extra columns"
#: biomarkers with figures is timed against --no-plot up to this many subjects (the issue's 100,000); there
#: (not below, where drawing's fixed cost dominates, as start-up does for the other targets) at most
#: FIGURES_RATIO times as long
FIGURES_MAX_SIZE = 100_000
FIGURES_RATIO = 2.0


def scale_sizes() -> list[int]:
    """BENCH_SCALE_SIZES: comma-separated numbers of subjects (default: none; make bench-scale sets 10k, 100k, 1M)."""
    text = os.environ.get("BENCH_SCALE_SIZES", "")
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def scale_cases(n: int) -> list[Case]:
    """ingest, validate, biomarkers, survival, safety and report of a simulated trial of n subjects: on its Parquet
    files (with R doing the same work, and biomarkers with figures up to FIGURES_MAX_SIZE subjects), then on the
    same trial as foreign-shaped CSV (columns reversed, extra variables; no R)."""
    tk = "{trialkit}"
    big = dict(runs=1, warmup=False)
    at_scale = n >= BIG
    ratio = 0.5 if at_scale else None

    def r(script: str, data: str) -> Other:
        return Other("R", ("Rscript", f"{{bench}}/r/{script}", data), target=ratio, compute=True, needs="R",
                     timeout_s=SCALE_R_TIMEOUT_S)

    def stages(name: str, data: str, ws: str, source: str, with_r: bool) -> list[Case]:
        each = dict(scale_size=n, target_mib=SCALE_MIB, source=source, **big)
        on_ws = dict(needs_workspace=True, **each)

        def peer(script: str, data: str) -> tuple[Other, ...]:
            return (r(script, data),) if with_r else ()

        no_plot = Case(f"{name} biomarkers --no-plot", (tk, "biomarkers", "-w", ws, "--no-plot"),
                       versus=peer("biomarkers_scale.R", "{sc_r}/labs.rds"), **on_ws)
        figures = [Case(f"{name} biomarkers (figures)", (tk, "biomarkers", "-w", "{sc_ws_figures}"),
                        versus_case=no_plot.name, target_ratio=FIGURES_RATIO if n == FIGURES_MAX_SIZE else None,
                        **on_ws)] if with_r and n <= FIGURES_MAX_SIZE else []
        return [
            Case(f"{name} ingest", (tk, "ingest", data, "-w", ws), **each),
            Case(f"{name} validate", (tk, "validate", "-w", ws), **on_ws),
            no_plot,
            *figures,
            Case(f"{name} survival --no-plot", (tk, "survival", "-w", ws, "--no-plot", *SURVIVAL_OPTIONS),
                 versus=peer("survival_synthetic.R", "{sc_r}/survival.rds"), **on_ws),
            Case(f"{name} safety --no-plot", (tk, "safety", "-w", ws, "--no-plot"),
                 versus=peer("safety_scale.R", "{sc_r}"), **on_ws),
            Case(f"{name} report", (tk, "report", "-w", ws), target_s=30.0 if at_scale else None,
                 output=f"{ws}/report.html", target_output_mib=10.0 if at_scale else None, **on_ws),
        ]

    return [*stages(f"scale {label(n)}:", "{sc_dir}", "{sc_ws}", "parquet", with_r=True),
            *stages(f"scale {label(n)}, {CSV_VARIANT}:", "{sc_csv}", "{sc_ws_csv}", "csv", with_r=False)]
