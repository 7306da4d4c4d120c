# Reference values for trialkit's competing-risks analysis (analyses/survival/competing.py),
# from R's survival (multi-state survfit) and cmprsk (cuminc, Gray's test).
#
# Run from the repository root (R >= 4.2, survival 3.x, cmprsk 2.2-x; JSON written with base R):
#   Rscript tests/reference/make_competing_reference.R
# Writes, beside this script:
#   competing_synthetic.csv  a small synthetic trial made here (set.seed(20261201)): 3 arms, 2 strata,
#                            3 event types, times in whole days 1..20 so that events of different types,
#                            several events of one type, and censorings share times
#   competing_r.json         for each dataset: pbc (fixtures/r_datasets/pbc, PARAMCD DTHTX, event type
#                            EVNTDESC "Death" / "Liver transplant", ADSL TRT01A, strata SEX) and synthetic
#
# Per dataset, with status = "censor" when CNSR = 1 else the event type, and arms in the order given:
#   cif (per arm, per event type, at every distinct time of the arm):
#     fit <- survfit(Surv(AVAL, factor(status, levels = c("censor", types))) ~ TRT01A, data)
#       time, n_risk = fit$n.risk[, 1], n_event = fit$n.event[, type], estimate = fit$pstate[, type]
#     ci <- cuminc(AVAL, status, TRT01A, cencode = "censor")
#       est_cuminc, var: timepoints(ci, time) (the curve's value at each time, carried forward);
#       std_err = sqrt(var)
#       lower, upper: the log(-log) interval, exp(-exp(log(-log F) -/+ z sqrt(var) / (F log F)))
#       with z = qnorm(0.975) (NA where F is 0 or 1)
#   landmarks: summary(fit, times, extend = TRUE) pstate and n.risk; var from timepoints(ci, times)
#   gray: cuminc(AVAL, status, TRT01A, cencode = "censor", rho = , strata = )$Tests (stat, pv, df)
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})
out_dir <- "tests/reference"
source(file.path(out_dir, "json.R"))  # to_json
vec <- function(x) as.list(unname(x))
z <- qnorm(0.975)

loglog_limits <- function(f, se) {
  bad <- is.na(f) | f <= 0 | f >= 1
  ff <- ifelse(bad, 0.5, f)
  a <- log(-log(ff))
  b <- z * se / (ff * log(ff))
  lo <- exp(-exp(a - b))
  hi <- exp(-exp(a + b))
  list(lower = ifelse(bad, NA, pmin(lo, hi)), upper = ifelse(bad, NA, pmax(lo, hi)))
}

analyse <- function(d, arms, types, times, strata_var = NULL) {
  d$status <- factor(ifelse(d$CNSR == 1, "censor", d$EVENT), levels = c("censor", types))
  d$TRT01A <- factor(d$TRT01A, levels = arms)
  fit <- survfit(Surv(AVAL, status) ~ TRT01A, data = d)
  rows <- rep(seq_along(fit$strata), fit$strata)
  ci <- cuminc(d$AVAL, as.character(d$status), d$TRT01A, cencode = "censor")
  out <- list(arms = vec(arms), types = vec(types), times = vec(times), cif = list(), landmarks = list(), gray = list())
  sm <- summary(fit, times = times, extend = TRUE)
  for (i in seq_along(arms)) {
    g <- arms[i]
    k <- rows == i
    out$cif[[g]] <- list()
    out$landmarks[[g]] <- list()
    for (ty in types) {
      tt <- fit$time[k]
      tp <- timepoints(ci[paste(g, ty)], tt)
      se <- sqrt(as.vector(tp$var))
      est <- fit$pstate[k, match(ty, fit$states)]
      lim <- loglog_limits(est, se)
      out$cif[[g]][[ty]] <- list(time = vec(tt), n_risk = vec(fit$n.risk[k, 1]),
                                  n_event = vec(fit$n.event[k, match(ty, fit$states)]), estimate = vec(est),
                                  est_cuminc = vec(as.vector(tp$est)), std_err = vec(se),
                                  lower = vec(lim$lower), upper = vec(lim$upper))
      ks <- as.integer(sm$strata) == i
      tpl <- timepoints(ci[paste(g, ty)], times)
      lse <- sqrt(as.vector(tpl$var))
      lest <- sm$pstate[ks, match(ty, fit$states)]
      llim <- loglog_limits(lest, lse)
      out$landmarks[[g]][[ty]] <- list(time = vec(sm$time[ks]), n_risk = vec(sm$n.risk[ks, 1]), estimate = vec(lest),
                                       est_cuminc = vec(as.vector(tpl$est)), std_err = vec(lse),
                                       lower = vec(llim$lower), upper = vec(llim$upper))
    }
  }
  settings <- list(list(key = "rho0", rho = 0, strata = FALSE), list(key = "rho1", rho = 1, strata = FALSE))
  if (!is.null(strata_var)) settings <- c(settings, list(list(key = "rho0_strata", rho = 0, strata = TRUE),
                                                         list(key = "rho1_strata", rho = 1, strata = TRUE)))
  for (st in settings) {
    res <- if (st$strata) cuminc(d$AVAL, as.character(d$status), d$TRT01A, strata = d[[strata_var]], rho = st$rho, cencode = "censor")
           else cuminc(d$AVAL, as.character(d$status), d$TRT01A, rho = st$rho, cencode = "censor")
    tests <- res$Tests
    out$gray[[st$key]] <- list(rho = st$rho, strata = if (st$strata) strata_var else NA, event = vec(rownames(tests)),
                               chisq = vec(tests[, "stat"]), p = vec(tests[, "pv"]), df = vec(tests[, "df"]))
  }
  out
}

# ---- pbc: death vs liver transplant (PARAMCD DTHTX), 2 arms, strata SEX
tte <- read.csv("fixtures/r_datasets/pbc/adtte.csv", stringsAsFactors = FALSE)
sl <- read.csv("fixtures/r_datasets/pbc/adsl.csv", stringsAsFactors = FALSE)
pbc_d <- merge(tte[tte$PARAMCD == "DTHTX", c("USUBJID", "AVAL", "CNSR", "EVNTDESC")], sl[, c("USUBJID", "TRT01A", "SEX")])
pbc_d$EVENT <- ifelse(pbc_d$CNSR == 1, NA, pbc_d$EVNTDESC)
pbc <- analyse(pbc_d, c("D-penicillamine", "Placebo"), c("Death", "Liver transplant"), c(365.25, 1826.25, 3652.5, 5000),
               strata_var = "SEX")

# ---- synthetic: ties between event types, tied events of one type, censorings at event times
set.seed(20261201)
n <- 72
syn <- data.frame(USUBJID = sprintf("SYN-%03d", seq_len(n)),
                  TRT01A = rep(c("Arm A", "Arm B", "Arm C"), each = n / 3),
                  STRATUM = rep(c("S1", "S2"), times = n / 2),
                  AVAL = sample(1:20, n, replace = TRUE), stringsAsFactors = FALSE)
ev <- sample(c("censor", "Progression", "Death", "Toxicity"), n, replace = TRUE, prob = c(0.25, 0.35, 0.25, 0.15))
ev[syn$TRT01A == "Arm A" & syn$AVAL == max(syn$AVAL[syn$TRT01A == "Arm A"])] <- "Death"  # arm A ends on an event: S reaches 0
syn$CNSR <- ifelse(ev == "censor", 1L, 0L)
syn$EVENT <- ifelse(ev == "censor", NA, ev)
write.csv(syn, file.path(out_dir, "competing_synthetic.csv"), row.names = FALSE, na = "")
synthetic <- analyse(syn, c("Arm A", "Arm B", "Arm C"), c("Death", "Progression", "Toxicity"), c(0.5, 5, 10, 15, 30),
                     strata_var = "STRATUM")

writeLines(to_json(list(r_version = R.version.string, survival = as.character(packageVersion("survival")),
                        cmprsk = as.character(packageVersion("cmprsk")), pbc = pbc, synthetic = synthetic)),
           file.path(out_dir, "competing_r.json"))
