# R's side of the scale suite's biomarkers case (tests/bench/cases.py): per lab parameter, what
# `trialkit biomarkers --no-plot` computes by default --
#   summaries of AVAL and CHG by arm and visit (n, mean, sd, median, min, max),
#   the paired t-test of the change from baseline within each arm and visit (t.test(CHG)),
#   the one-way ANOVA of the change between arms at each visit (anova(lm(CHG ~ TRT01A))),
#   the random-intercept model lme(CHG ~ TRT01A * factor(AVISITN) + BASE, random = ~ 1 | USUBJID), REML
# on labs.rds (r/make_scale_rds.R).  Rscript tests/bench/r/biomarkers_scale.R bench-data/sim-N/labs.rds
# Prints BENCH_COMPUTE_S (elapsed) and BENCH_COMPUTE_CPU_S of the computation alone (not R's start or readRDS).
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(nlme))
l <- readRDS(args[1])
start <- proc.time()
for (p in sort(unique(l$PARAMCD))) {
  d <- l[l$PARAMCD == p, ]
  key <- list(d$TRT01A, d$AVISITN)
  for (v in c("AVAL", "CHG")) {
    x <- d[[v]]
    s <- list(n = tapply(x, key, length), mean = tapply(x, key, mean), sd = tapply(x, key, sd),
              median = tapply(x, key, median), min = tapply(x, key, min), max = tapply(x, key, max))
  }
  within <- by(d$CHG, key, function(x) if (length(x) > 1) t.test(x)$p.value else NA)
  between <- by(d, d$AVISITN, function(x) anova(lm(CHG ~ TRT01A, data = x))[["Pr(>F)"]][1])
  # nlminb stops with "false convergence" on some parameters of the large trials: refit with optim, as an R
  # user would
  model <- CHG ~ TRT01A * factor(AVISITN) + BASE
  fit <- tryCatch(lme(model, random = ~ 1 | USUBJID, data = d, method = "REML"),
                  error = function(e) lme(model, random = ~ 1 | USUBJID, data = d, method = "REML",
                                          control = lmeControl(opt = "optim")))
}
used <- proc.time() - start
cat(sprintf("BENCH_COMPUTE_S=%.4f\nBENCH_COMPUTE_CPU_S=%.4f\n", used[["elapsed"]],
            used[["user.self"]] + used[["sys.self"]]))
