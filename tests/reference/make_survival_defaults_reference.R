# Reference values for trialkit survival's defaults (landmarks and RMST tau from the trial at hand).
#
# Run from the repository root (R >= 4.2, survival 3.x, foreign):
#   Rscript tests/reference/make_survival_defaults_reference.R [PILOT_DIR]
# PILOT_DIR defaults to ../shared/data/cdiscpilot01. Writes survival_defaults_r.json beside this script.
#
# survRM2 (rmst2) is not in Debian, so its default tau and the RMST are computed
# with base R from survfit, as survRM2 defines them:
#   fit  <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d)
#   last <- tapply(d$AVAL, d$TRT01A, max)       # each group's last observed time (event or censoring)
#   tau  <- min(last)                           # rmst2's default tau
#   rmst: the integral of the KM step function from 0 to tau, per group:
#         t <- c(0, f$time[f$time <= tau], tau); s <- c(1, f$surv[f$time <= tau]); sum(diff(t) * s)
#   rmst_survmean, se: survival:::survmean(f, rmean = tau), what print(fit, rmean = tau) shows (a cross-check)
#   landmarks: summary(f, times = times)$surv with extend = FALSE: the default landmarks are inside every
#         group's follow-up, so R gives a row for each (it would drop a time after the group's last time)
# times: the default landmarks trialkit's rule gives (worked by hand in tests/test_survival_defaults.py):
#   pilot, smallest last time 189 days: every 2 months -> 60.875, 121.75, 182.625
#   built-in trial, smallest last time 738 days: every 6 months -> 182.625, 365.25, 547.875, 730.5
suppressPackageStartupMessages({
  library(survival)
  library(foreign)
})

args <- commandArgs(trailingOnly = TRUE)
pilot_dir <- if (length(args) >= 1) args[1] else "../shared/data/cdiscpilot01"
out_dir <- "tests/reference"

source(file.path("tests", "reference", "json.R"))  # to_json, num, str_json
vec <- function(x) as.list(unname(x))

defaults <- function(d, times) {
  arms <- unique(d[order(d$TRT01AN, d$TRT01A), c("TRT01A", "TRT01AN")])
  groups <- as.character(arms$TRT01A)
  d$TRT01A <- factor(as.character(d$TRT01A), levels = groups)
  last <- tapply(d$AVAL, d$TRT01A, max)
  tau <- min(last)
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d)
  per <- list()
  for (i in seq_along(groups)) {
    f <- fit[i]
    keep <- f$time <= tau
    t <- c(0, f$time[keep], tau)
    s <- c(1, f$surv[keep])
    m <- survival:::survmean(f, scale = 1, rmean = tau)$matrix
    lm <- summary(f, times = times)
    per[[groups[i]]] <- list(last_time = unname(last[groups[i]]), rmst = sum(diff(t) * s),
                             rmst_survmean = unname(m["rmean"]), se = unname(m["se(rmean)"]),
                             landmark_times = vec(lm$time), landmark_survival = vec(lm$surv))
  }
  list(groups = vec(groups), last_time = max(last), tau = tau, times = vec(times), by_group = per)
}

adtte <- read.xport(file.path(pilot_dir, "adtte.xpt"))
adsl <- read.xport(file.path(pilot_dir, "adsl.xpt"))
pilot <- merge(adtte[adtte$PARAMCD == "TTDE", c("USUBJID", "AVAL", "CNSR")],
               adsl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")

s_tte <- read.csv("fixtures/seed_trial/adtte.csv", stringsAsFactors = FALSE)
s_sl <- read.csv("fixtures/seed_trial/adsl.csv", stringsAsFactors = FALSE)
seed <- merge(s_tte[s_tte$PARAMCD == "OS", c("USUBJID", "AVAL", "CNSR")],
              s_sl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")

out <- list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
            script = "tests/reference/make_survival_defaults_reference.R",
            pilot = c(list(data = "CDISC pilot ADTTE PARAMCD TTDE merged with ADSL TRT01A, TRT01AN"),
                      defaults(pilot, c(60.875, 121.75, 182.625))),
            seed = c(list(data = "fixtures/seed_trial ADTTE PARAMCD OS merged with ADSL TRT01A, TRT01AN"),
                     defaults(seed, c(182.625, 365.25, 547.875, 730.5))))
path <- file.path(out_dir, "survival_defaults_r.json")
writeLines(to_json(out), path)
cat("wrote", path, "\n")
