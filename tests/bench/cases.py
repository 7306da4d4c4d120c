"""What `make bench` times: one Case per command, with its target where the issue sets one.

Placeholders in argv: {trialkit} the installed command, {seed} a workspace
holding the built-in trial, {pilot} the CDISC pilot folder, {pilot_ws} a
workspace holding it, {seed_dir} the built-in trial's CSV folder, {root}
the repository. A case with ``versus`` is timed side by side with that
command (for example R on the same data); ``target_vs`` is the largest
allowed ratio of trialkit's median wall time to the other's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    target_s: float | None = None
    needs_pilot: bool = False
    versus: tuple[str, ...] | None = None
    target_vs: float | None = None


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
         versus=("Rscript", "-e", "suppressPackageStartupMessages(library(survival)); "
                 "t <- read.csv('{seed_dir}/adtte.csv'); s <- read.csv('{seed_dir}/adsl.csv'); "
                 "d <- merge(t[t$PARAMCD == 'OS', ], s[, c('USUBJID', 'TRT01A')], by = 'USUBJID'); "
                 "f <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d); print(summary(f, times = c(182.625, 730.5))); "
                 "print(survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d))"),
         target_vs=1.0),
    Case("survival (built-in trial)", ("{trialkit}", "survival", "-w", "{seed}")),
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
         versus=("sh", "-c", "set -e; T='{trialkit}'; W='{pilot_ws}'; "
                 "$T safety --sort frequency -w $W >/dev/null; "
                 "$T safety --name safety-female --subgroup SEX=F --sort frequency --no-plot -w $W >/dev/null; "
                 "$T survival -w $W >/dev/null; "
                 "$T survival --name survival-high-vs-placebo --arm high --arm placebo --parity r -w $W >/dev/null; "
                 "$T survival --name survival-over-80 --subgroup 'AGEGR1=>80' --no-plot -w $W >/dev/null; "
                 "$T survival --name survival-efficacy --population EFFFL --no-plot -w $W >/dev/null"),
         target_vs=1.0),
    # issue 6: after the three stages above have written their outputs
    Case("report (built-in trial)", ("{trialkit}", "report", "-w", "{seed}")),
    Case("report --format md (built-in trial)", ("{trialkit}", "report", "-w", "{seed}", "--format", "md")),
]
