# R's side of `make bench`'s survival cases on a synthetic trial (tests/bench/synthetic.py): the
# Kaplan-Meier curves, the stratified log-rank test and the stratified Cox model with covariates,
#
#   survfit(Surv(AVAL, EVENT) ~ TRT01A)
#   survdiff(Surv(AVAL, EVENT) ~ TRT01A + strata(STRAT1, STRAT2))
#   coxph(Surv(AVAL, EVENT) ~ TRT01A + AGE + SEX + strata(STRAT1, STRAT2), ties = "efron")
#
# on the frame written by make_rds.R:  Rscript tests/bench/r/survival_synthetic.R trial.rds
# Prints the elapsed time of those three calls alone (not R's start, library(survival) or readRDS)
# as a line BENCH_COMPUTE_S=<seconds>, and their CPU time as BENCH_COMPUTE_CPU_S=<seconds>, which
# run_bench.py reads; then the results, for a look.
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(survival))
d <- readRDS(args[1])
start <- proc.time()
km <- survfit(Surv(AVAL, EVENT) ~ TRT01A, data = d)
lr <- survdiff(Surv(AVAL, EVENT) ~ TRT01A + strata(STRAT1, STRAT2), data = d)
cox <- coxph(Surv(AVAL, EVENT) ~ TRT01A + AGE + SEX + strata(STRAT1, STRAT2), data = d, ties = "efron")
used <- proc.time() - start
cat(sprintf("BENCH_COMPUTE_S=%.4f\nBENCH_COMPUTE_CPU_S=%.4f\n", used[["elapsed"]],
            used[["user.self"]] + used[["sys.self"]]))
print(km)
print(lr)
print(cox)
