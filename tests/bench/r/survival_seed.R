# R's side of `make bench`'s built-in trial case: what `trialkit survival` computes on it (Kaplan-Meier,
# log-rank, Cox model by arm), from the CSV files, timed whole (R's start and reading included):
#
#   Rscript tests/bench/r/survival_seed.R fixtures/seed_trial
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(survival))
adtte <- read.csv(file.path(args[1], "adtte.csv"))
adsl <- read.csv(file.path(args[1], "adsl.csv"))
d <- merge(adtte[adtte$PARAMCD == "OS", ], adsl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
d$TRT01A <- factor(d$TRT01A, levels = unique(d$TRT01A[order(d$TRT01AN)]))
km <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d)
print(summary(km, times = c(182.625, 365.25, 547.875, 730.5)))
print(survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d))
print(suppressWarnings(coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d, ties = "efron")))
