# Reference values for trialkit's survival stage, from R's survival package.
#
# Run from the repository root (R >= 4.2, survival 3.x, foreign; no jsonlite
# needed, the JSON is written with base R):
#   Rscript tests/reference/make_survival_reference.R [PILOT_DIR]
# PILOT_DIR defaults to ../shared/data/cdiscpilot01 (the CDISC pilot XPT files,
# read with foreign::read.xport). Writes, beside this script:
#   survival_pilot_r.json  ADTTE PARAMCD TTDE x ADSL TRT01A/TRT01AN (3 arms)
#   survival_seed_r.json   fixtures/seed_trial/{adtte,adsl}.csv, PARAMCD OS
#   survival_edge_r.json   survival_edge_cases.csv (one small dataset per CASE)
#
# Arms are the factor TRT01A with levels in TRT01AN order (the first is the
# reference). For each dataset, the R calls behind each number:
#   km, landmarks, medians (per conf.type / conf.int):
#     fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, conf.type=, conf.int=)
#     km: fit[i]$time, n.risk, n.event, n.censor, surv, std.err (SE of log S),
#         lower, upper; std_err = summary(fit[i])$std.err's formula: std.err * surv
#     landmarks: summary(fit[i], times = times, extend = TRUE)
#     medians:   summary(fit[i])$table[c("median", LCL, UCL)]   (as print(fit))
#   rmst:      survival:::survmean(fit[i], rmean = tau), what print(fit, rmean = tau) prints
#   risk table: summary(fit[i], times = grid, extend = TRUE): n.risk,
#               cumsum(n.event), cumsum(n.censor)
#   logrank:   survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, rho = 0 and 1):
#              chisq, df = sum(exp > 0) - 1, pvalue, obs, exp, var
#   pairwise:  the same survdiff on each pair alone; p_holm = p.adjust(p, "holm")
#   trend:     U = sum(s * (obs - exp)), V = t(s) %*% var %*% s, chisq = U^2 / V,
#              p = pchisq(chisq, 1, lower.tail = FALSE), s = TRT01AN
#   cox:       coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, ties = "efron"/"breslow"):
#              coef, sqrt(diag(vcov)), summary()$conf.int, summary()$coefficients[, 5].
#              Arms without events are left out of the fit (subset), which is
#              the limit of the MLE; a warning from coxph (infinite coefficient,
#              no convergence) makes the model not estimable.
suppressPackageStartupMessages({
  library(survival)
  library(foreign)
})

args <- commandArgs(trailingOnly = TRUE)
pilot_dir <- if (length(args) >= 1) args[1] else "../shared/data/cdiscpilot01"
out_dir <- "tests/reference"

source(file.path("tests", "reference", "json.R"))  # to_json, num, str_json
vec <- function(x) as.list(unname(x))  # always a JSON array, even of length 1

# ------------------------------------------------------------------ the analyses
CONFS <- list(list(key = "log_0.95", type = "log", level = 0.95),
              list(key = "log-log_0.95", type = "log-log", level = 0.95),
              list(key = "plain_0.95", type = "plain", level = 0.95),
              list(key = "log_0.9", type = "log", level = 0.90))

km_part <- function(f) {
  list(time = vec(f$time), n_risk = vec(f$n.risk), n_event = vec(f$n.event), n_censor = vec(f$n.censor),
       survival = vec(f$surv), std_err = vec(f$std.err * f$surv), std_err_log = vec(f$std.err),
       lower = vec(f$lower), upper = vec(f$upper))
}

curve <- function(fit, i, ngroups) if (ngroups > 1) fit[i] else fit

survdiff_part <- function(d, rho, scores) {
  sd <- survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d, rho = rho)
  df <- sum(sd$exp > 0) - 1
  u <- sum(scores * (sd$obs - sd$exp))
  v <- as.numeric(t(scores) %*% sd$var %*% scores)
  list(logrank = list(chisq = if (df >= 1) sd$chisq else NA, df = df, p = if (df >= 1) sd$pvalue else NA,
                      observed = vec(sd$obs), expected = vec(sd$exp), var = lapply(seq_len(nrow(sd$var)), function(r) vec(sd$var[r, ]))),
       trend = list(u = u, var = v, chisq = if (v > 0) u^2 / v else NA,
                    p = if (v > 0) pchisq(u^2 / v, 1, lower.tail = FALSE) else NA))
}

cox_part <- function(d, groups, ties) {
  ev <- tapply(1 - d$CNSR, d$TRT01A, sum)[groups]
  ref <- groups[1]
  others <- groups[-1]
  if (ev[ref] == 0) {
    return(lapply(others, function(g) list(arm = g, estimable = FALSE, reason = "no events in the reference arm")))
  }
  fitted <- others[ev[others] > 0]
  rows <- list()
  for (g in others[ev[others] == 0]) rows[[g]] <- list(arm = g, estimable = FALSE, reason = "no events in this arm")
  if (length(fitted)) {
    sub <- d[d$TRT01A %in% c(ref, fitted), ]
    sub$TRT01A <- factor(as.character(sub$TRT01A), levels = c(ref, fitted))
    warns <- character(0)
    fit <- withCallingHandlers(coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = sub, ties = ties),
                               warning = function(w) {
                                 warns <<- c(warns, conditionMessage(w))
                                 invokeRestart("muffleWarning")
                               })
    s <- summary(fit)
    for (k in seq_along(fitted)) {
      g <- fitted[k]
      if (length(warns)) {
        rows[[g]] <- list(arm = g, estimable = FALSE, reason = paste(warns, collapse = "; "),
                          r_coef = unname(coef(fit)[k]))
      } else {
        rows[[g]] <- list(arm = g, estimable = TRUE, coef = unname(coef(fit)[k]), se = sqrt(diag(vcov(fit)))[k],
                          hr = s$conf.int[k, 1], lower = s$conf.int[k, 3], upper = s$conf.int[k, 4],
                          p = s$coefficients[k, 5], loglik = fit$loglik[2])
      }
    }
  }
  unname(rows[others])
}

analyse <- function(d, times, tau, grid) {
  arms <- unique(d[order(d$TRT01AN, d$TRT01A), c("TRT01A", "TRT01AN")])
  groups <- as.character(arms$TRT01A)
  scores <- arms$TRT01AN
  d$TRT01A <- factor(as.character(d$TRT01A), levels = groups)
  ng <- length(groups)
  out <- list(groups = vec(groups), scores = vec(scores),
              n = vec(as.numeric(table(d$TRT01A))), events = vec(as.numeric(tapply(1 - d$CNSR, d$TRT01A, sum))),
              times = vec(times), tau = tau, grid = vec(grid), conf = list())
  for (cf in CONFS) {
    fit <- if (ng > 1) survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d, conf.type = cf$type, conf.int = cf$level)
           else survfit(Surv(AVAL, 1 - CNSR) ~ 1, data = d, conf.type = cf$type, conf.int = cf$level)
    per <- list(km = list(), landmarks = list(), medians = list())
    for (i in seq_len(ng)) {
      f <- curve(fit, i, ng)
      s <- summary(f, times = times, extend = TRUE)
      tab <- summary(f)$table
      per$km[[groups[i]]] <- km_part(f)
      per$landmarks[[groups[i]]] <- list(time = vec(s$time), n_risk = vec(s$n.risk), survival = vec(s$surv),
                                         std_err = vec(s$std.err), lower = vec(s$lower), upper = vec(s$upper))
      per$medians[[groups[i]]] <- list(median = unname(tab["median"]), lower = unname(tab[8]), upper = unname(tab[9]))
    }
    out$conf[[cf$key]] <- per
  }
  fit <- if (ng > 1) survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d) else survfit(Surv(AVAL, 1 - CNSR) ~ 1, data = d)
  out$rmst <- list()
  out$risk_table <- list()
  for (i in seq_len(ng)) {
    f <- curve(fit, i, ng)
    m <- survival:::survmean(f, scale = 1, rmean = tau)$matrix
    out$rmst[[groups[i]]] <- list(rmst = unname(m["rmean"]), se = unname(m["se(rmean)"]))
    s <- summary(f, times = grid, extend = TRUE)
    out$risk_table[[groups[i]]] <- list(time = vec(s$time), n_risk = vec(s$n.risk),
                                        cum_events = vec(cumsum(s$n.event)), cum_censored = vec(cumsum(s$n.censor)))
  }
  if (ng > 1) {
    for (rho in c(0, 1)) {
      key <- sprintf("rho_%g", rho)
      out[[key]] <- survdiff_part(d, rho, scores)
      pairs <- combn(ng, 2)
      pw <- lapply(seq_len(ncol(pairs)), function(j) {
        a <- groups[pairs[1, j]]; b <- groups[pairs[2, j]]
        sub <- d[d$TRT01A %in% c(a, b), ]
        sub$TRT01A <- droplevels(sub$TRT01A)
        sp <- survdiff_part(sub, rho, scores[c(pairs[1, j], pairs[2, j])])$logrank
        list(arm_a = a, arm_b = b, chisq = sp$chisq, df = sp$df, p = sp$p)
      })
      ps <- vapply(pw, function(x) if (is.na(x$p)) NA_real_ else x$p, 0)
      holm <- p.adjust(ps, method = "holm")
      for (j in seq_along(pw)) pw[[j]]$p_holm <- holm[j]
      out[[key]]$pairwise <- pw
    }
    out$cox <- list(efron = cox_part(d, groups, "efron"), breslow = cox_part(d, groups, "breslow"))
  }
  out
}

meta <- function(data) {
  list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
       data = data, script = "tests/reference/make_survival_reference.R")
}

write_json <- function(obj, name) {
  path <- file.path(out_dir, name)
  writeLines(to_json(obj), path)
  cat("wrote", path, "\n")
}

# ------------------------------------------------------------------ CDISC pilot
adtte <- read.xport(file.path(pilot_dir, "adtte.xpt"))
adsl <- read.xport(file.path(pilot_dir, "adsl.xpt"))
pilot <- merge(adtte[adtte$PARAMCD == "TTDE", c("USUBJID", "AVAL", "CNSR")],
               adsl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
write_json(c(meta("CDISC pilot ADTTE PARAMCD TTDE merged with ADSL TRT01A, TRT01AN"),
             analyse(pilot, times = c(0, 30, 91.3125, 182.625, 730.5), tau = 180, grid = seq(0, 180, by = 30))),
           "survival_pilot_r.json")

# ------------------------------------------------------------------ built-in (seed) trial
s_tte <- read.csv("fixtures/seed_trial/adtte.csv", stringsAsFactors = FALSE)
s_sl <- read.csv("fixtures/seed_trial/adsl.csv", stringsAsFactors = FALSE)
seed <- merge(s_tte[s_tte$PARAMCD == "OS", c("USUBJID", "AVAL", "CNSR")],
              s_sl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
write_json(c(meta("fixtures/seed_trial ADTTE PARAMCD OS merged with ADSL TRT01A, TRT01AN"),
             analyse(seed, times = c(182, 182.625, 730, 730.5), tau = 730,
                     grid = c(0, 182.625, 365.25, 547.875, 730.5))),
           "survival_seed_r.json")

# ------------------------------------------------------------------ edge cases
edge <- read.csv(file.path(out_dir, "survival_edge_cases.csv"), stringsAsFactors = FALSE)
cases <- list()
for (case in unique(edge$CASE)) {
  cases[[case]] <- analyse(edge[edge$CASE == case, ], times = c(0, 2, 5, 100), tau = 8, grid = seq(0, 14, by = 2))
}
write_json(c(meta("tests/reference/survival_edge_cases.csv, one dataset per CASE"), list(cases = cases)),
           "survival_edge_r.json")
