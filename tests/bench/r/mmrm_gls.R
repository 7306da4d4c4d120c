# R's side of `make bench`'s MMRM cases on a synthetic trial (tests/bench/mmrm_synthetic.py):
#
#   gls(CHG ~ BASE + ARM * AVISIT, correlation = corSymm(form = ~ vis | USUBJID),
#       weights = varIdent(form = ~ 1 | AVISIT), method = "REML")
#
# (unstructured covariance; CHG = AVAL - BASE on the post-baseline records, ARM = ADSL TRT01A ordered by
# TRT01AN, AVISIT in AVISITN order, vis = the visit's position 1..k) on the CSVs written by
#   python tests/bench/mmrm_synthetic.py N FOLDER
# Run:  Rscript tests/bench/r/mmrm_gls.R FOLDER     (FOLDER holds adsl.csv and adlb.csv)
# Prints the elapsed time of the gls call alone (not R's start, library(nlme) or reading the CSVs) as
# "elapsed <seconds>", the same as BENCH_COMPUTE_S=<seconds> with its CPU time as BENCH_COMPUTE_CPU_S=<seconds>
# (as run_bench.py reads them); then the REML log-likelihood, for a look.
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(nlme))
adsl <- read.csv(file.path(args[1], "adsl.csv"), stringsAsFactors = FALSE)
adlb <- read.csv(file.path(args[1], "adlb.csv"), stringsAsFactors = FALSE)
d <- merge(adlb[is.na(adlb$ABLFL) | adlb$ABLFL != "Y", ], adsl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
d$CHG <- d$AVAL - d$BASE
d$ARM <- factor(d$TRT01A, levels = unique(adsl$TRT01A[order(adsl$TRT01AN)]))
visits <- unique(d$AVISIT[order(d$AVISITN)])
d$AVISIT <- factor(d$AVISIT, levels = visits)
d$vis <- as.integer(d$AVISIT)
d <- d[order(d$USUBJID, d$vis), ]
start <- proc.time()
fit <- gls(CHG ~ BASE + ARM * AVISIT, data = d, correlation = corSymm(form = ~ vis | USUBJID),
           weights = varIdent(form = ~ 1 | AVISIT), method = "REML")
used <- proc.time() - start
cat(sprintf("elapsed %.4f\nBENCH_COMPUTE_S=%.4f\nBENCH_COMPUTE_CPU_S=%.4f\n", used[["elapsed"]], used[["elapsed"]],
            used[["user.self"]] + used[["sys.self"]]))
cat(sprintf("subjects %d records %d loglik_reml %.10g\n", length(unique(d$USUBJID)), nrow(d), as.numeric(logLik(fit))))
