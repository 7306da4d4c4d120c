# Reference values for trialkit's Kaplan-Meier extras (confidence-limit types,
# quartiles, reverse-KM median follow-up, RMST contrasts), from R's survival.
#
# Run from the repository root (R >= 4.2, survival 3.x, foreign; no jsonlite,
# no survRM2 needed):
#   Rscript tests/reference/make_km_extras_reference.R [PILOT_DIR]
# PILOT_DIR defaults to ../shared/data/cdiscpilot01 (the CDISC pilot XPT files,
# read with foreign::read.xport); when it is absent the pilot is skipped.
# Writes, beside this script:
#   km_extras_r.json    per dataset: quartiles, print() medians, follow-up,
#                       rmean / se(rmean), contrasts (see below)
#   km_extras_km_r.csv  the KM curve and its limits per dataset, conf type,
#                       level and arm (12 significant digits)
# Datasets: colon OS (3 arms), veteran OS, pbc OS (fixtures/r_datasets), the
# seed trial OS (fixtures/seed_trial), the CDISC pilot ADTTE TTDE, and the
# small cases of km_extras_edge_cases.csv and survival_edge_cases.csv. Arms are
# the factor TRT01A in TRT01AN order; the first is the reference.
#
# The R calls behind each number, for conf.type ct in log, log-log, plain,
# logit, arcsin and conf.int cl in 0.95, 0.90:
#   fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, conf.type = ct, conf.int = cl)
#   km limits:  fit[i]$time, $surv, $lower, $upper
#   quartiles:  quantile(fit[i], probs = c(0.25, 0.5, 0.75), conf.int = TRUE)
#   medians:    summary(fit[i])$table[c("median", LCL, UCL)]    (as print(fit))
#   follow-up:  survfit(Surv(AVAL, CNSR) ~ 1, data, conf.type = "log", conf.int = cl) and
#               survfit(Surv(AVAL, CNSR) ~ TRT01A, ...): n and the print() median, LCL, UCL
#   rmst:       survival:::survmean(fit[i], rmean = tau)$matrix[c("rmean", "se(rmean)")]
#               (what print(fit, rmean = tau) prints); se_by_hand is survRM2's per-arm
#               formula written out: sqrt(sum over event times t <= tau of
#               A(t)^2 d / (Y (Y - d))), A(t) = area under S from t to tau, 0 when Y = d
#   contrasts:  rmst2-style, arm minus / over the reference, z = qnorm(1 - (1 - cl) / 2):
#               diff = r1 - r0, se = sqrt(s1^2 + s0^2), diff -/+ z se, p = 2 pnorm(-|diff / se|);
#               log ratio = log(r1 / r0), se = sqrt(s1^2 / r1^2 + s0^2 / r0^2),
#               exp(log ratio -/+ z se), p = 2 pnorm(-|log ratio / se|)
suppressPackageStartupMessages({
  library(survival)
  library(foreign)
})

args <- commandArgs(trailingOnly = TRUE)
pilot_dir <- if (length(args) >= 1) args[1] else "../shared/data/cdiscpilot01"
out_dir <- "tests/reference"
source(file.path("tests", "reference", "json.R"))  # to_json
vec <- function(x) as.list(unname(x))

CONF_TYPES <- c("log", "log-log", "plain", "logit", "arcsin")
LEVELS <- c(0.95, 0.90)
PROBS <- c(0.25, 0.5, 0.75)
key_of <- function(ct, cl) sprintf("%s_%g", ct, cl)

by_arm <- function(formula, d, ng, ...) {
  fit <- survfit(formula, data = d, ...)
  lapply(seq_len(ng), function(i) if (ng > 1) fit[i] else fit)
}

print_median <- function(f) {
  tab <- summary(f)$table
  list(median = unname(tab["median"]), lower = unname(tab[8]), upper = unname(tab[9]))
}

se_by_hand <- function(f, tau) {
  # survRM2's per-arm variance, term by term: an independent check of survmean's se(rmean)
  at <- f$time <= tau & f$n.event > 0
  total <- 0
  for (j in which(at)) {
    grid <- c(f$time[f$time >= f$time[j] & f$time <= tau], tau)
    s <- f$surv[f$time >= f$time[j] & f$time <= tau]
    area <- sum(diff(grid) * s)
    y <- f$n.risk[j]; dd <- f$n.event[j]
    total <- total + if (y == dd) 0 else area^2 * dd / (y * (y - dd))
  }
  sqrt(total)
}

km_rows <- list()

analyse <- function(name, d, tau) {
  arms <- unique(d[order(d$TRT01AN, d$TRT01A), c("TRT01A", "TRT01AN")])
  groups <- as.character(arms$TRT01A)
  d$TRT01A <- factor(as.character(d$TRT01A), levels = groups)
  ng <- length(groups)
  f1 <- if (ng > 1) Surv(AVAL, 1 - CNSR) ~ TRT01A else Surv(AVAL, 1 - CNSR) ~ 1
  fr <- if (ng > 1) Surv(AVAL, CNSR) ~ TRT01A else Surv(AVAL, CNSR) ~ 1
  out <- list(groups = vec(groups), reference = groups[1], tau = tau, probs = vec(PROBS), conf = list(),
              followup = list(), rmst = list(), contrasts = list())
  for (ct in CONF_TYPES) for (cl in LEVELS) {
    fits <- by_arm(f1, d, ng, conf.type = ct, conf.int = cl)
    per <- list(quantiles = list(), medians = list())
    for (i in seq_len(ng)) {
      f <- fits[[i]]
      q <- quantile(f, probs = PROBS, conf.int = TRUE)
      per$quantiles[[groups[i]]] <- list(time = vec(as.vector(q$quantile)), lower = vec(as.vector(q$lower)),
                                         upper = vec(as.vector(q$upper)))
      per$medians[[groups[i]]] <- print_median(f)
      km_rows[[length(km_rows) + 1]] <<- data.frame(dataset = name, conf_type = ct, conf_level = cl,
                                                    arm = groups[i], time = f$time, survival = f$surv,
                                                    lower = f$lower, upper = f$upper)
    }
    out$conf[[key_of(ct, cl)]] <- per
  }
  for (cl in LEVELS) {
    all <- survfit(Surv(AVAL, CNSR) ~ 1, data = d, conf.type = "log", conf.int = cl)
    rev <- by_arm(fr, d, ng, conf.type = "log", conf.int = cl)
    rows <- c(list(print_median(all)), lapply(rev, print_median))
    out$followup[[sprintf("%g", cl)]] <- list(
      group = vec(c("All subjects", groups)), n = vec(c(all$n, vapply(rev, function(f) f$n, 0))),
      median = vec(vapply(rows, function(r) r$median, 0)), lower = vec(vapply(rows, function(r) r$lower, 0)),
      upper = vec(vapply(rows, function(r) r$upper, 0)))
  }
  fits <- by_arm(f1, d, ng)
  r <- s <- numeric(ng)
  for (i in seq_len(ng)) {
    m <- survival:::survmean(fits[[i]], scale = 1, rmean = tau)$matrix
    r[i] <- m["rmean"]; s[i] <- m["se(rmean)"]
    out$rmst[[groups[i]]] <- list(rmst = unname(r[i]), se = unname(s[i]), se_by_hand = se_by_hand(fits[[i]], tau))
  }
  if (ng > 1) for (cl in LEVELS) {
    z <- qnorm(1 - (1 - cl) / 2)
    o <- 2:ng
    diff <- r[o] - r[1]; dse <- sqrt(s[o]^2 + s[1]^2)
    lr <- log(r[o] / r[1]); lse <- sqrt(s[o]^2 / r[o]^2 + s[1]^2 / r[1]^2)
    out$contrasts[[sprintf("%g", cl)]] <- list(
      arm = vec(groups[o]), difference = vec(diff), diff_se = vec(dse), diff_lower = vec(diff - z * dse),
      diff_upper = vec(diff + z * dse), diff_p = vec(2 * pnorm(-abs(diff / dse))), ratio = vec(exp(lr)),
      ratio_lower = vec(exp(lr - z * lse)), ratio_upper = vec(exp(lr + z * lse)), ratio_p = vec(2 * pnorm(-abs(lr / lse))))
  }
  cat(sprintf("%-22s se(rmean) vs survRM2 by hand, max relative difference: %.3g\n", name,
              max(abs(vapply(out$rmst, function(x) if (x$se == 0) 0 else x$se_by_hand / x$se - 1, 0)))))
  out
}

fixture <- function(dir, paramcd) {
  tte <- read.csv(file.path(dir, "adtte.csv"), stringsAsFactors = FALSE)
  sl <- read.csv(file.path(dir, "adsl.csv"), stringsAsFactors = FALSE)
  merge(tte[tte$PARAMCD == paramcd, c("USUBJID", "AVAL", "CNSR")], sl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
}

results <- list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
                script = "tests/reference/make_km_extras_reference.R", datasets = list())
results$datasets$colon <- analyse("colon", fixture("fixtures/r_datasets/colon", "OS"), tau = 1826.25)
results$datasets$veteran <- analyse("veteran", fixture("fixtures/r_datasets/veteran", "OS"), tau = 365.25)
results$datasets$pbc <- analyse("pbc", fixture("fixtures/r_datasets/pbc", "OS"), tau = 3652.5)
results$datasets$seed <- analyse("seed", fixture("fixtures/seed_trial", "OS"), tau = 730)
if (file.exists(file.path(pilot_dir, "adtte.xpt"))) {
  adtte <- read.xport(file.path(pilot_dir, "adtte.xpt"))
  adsl <- read.xport(file.path(pilot_dir, "adsl.xpt"))
  pilot <- merge(adtte[adtte$PARAMCD == "TTDE", c("USUBJID", "AVAL", "CNSR")],
                 adsl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
  results$datasets$pilot <- analyse("pilot", pilot, tau = 180)
} else {
  cat("CDISC pilot not found in", pilot_dir, "- skipped\n")
}
for (file in c("km_extras_edge_cases.csv", "survival_edge_cases.csv")) {
  edge <- read.csv(file.path(out_dir, file), stringsAsFactors = FALSE)
  for (case in unique(edge$CASE)) {
    sub <- edge[edge$CASE == case, ]
    results$datasets[[paste0("edge_", case)]] <- analyse(paste0("edge_", case), sub, tau = max(sub$AVAL))
  }
}

writeLines(to_json(results), file.path(out_dir, "km_extras_r.json"))
km <- do.call(rbind, km_rows)
for (col in c("time", "survival", "lower", "upper")) km[[col]] <- ifelse(is.na(km[[col]]), "", sprintf("%.12g", km[[col]]))
write.csv(km, file.path(out_dir, "km_extras_km_r.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", file.path(out_dir, "km_extras_r.json"), "and", file.path(out_dir, "km_extras_km_r.csv"), "\n")
