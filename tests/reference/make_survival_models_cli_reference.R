# Reference values for `trialkit survival` run end to end with the options of
# issue 11 (strata, covariates, Fleming-Harrington rho, cox.zph, RMST
# contrasts, quartiles, reverse-KM follow-up, competing risks, subgroup
# forest), from R's survival and cmprsk packages, on the ADaM fixtures made by
# fixtures/r_datasets/make_fixtures.R and the built-in trial.
#
# Run from the repository root:
#   Rscript tests/reference/make_survival_models_cli_reference.R
# Writes tests/reference/survival_models_cli_r.json: one entry per CLI case
# (the command line is in the entry's "argv", the R calls below).
#
# Per case, with d = ADTTE rows of the endpoint x ADSL (TRT01A as a factor in
# TRT01AN order, the first level the reference; categorical covariates as
# factors with R's default levels unless the case says otherwise):
#   logrank:  survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A + strata(...), rho = )
#   cox:      coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + covariates + strata(...), ties = )
#             coef, se, p (Wald) per column; the likelihood-ratio, Wald and score tests unrounded
#             (2 diff(fit$loglik), fit$wald.test, fit$score; df and p as summary(fit))
#   zph:      cox.zph(fit) (transform "km", terms = TRUE): chisq, df, p per term and GLOBAL
#   quantiles: quantile(survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, conf.type = "log-log"), c(.25, .5, .75))
#   follow-up: survfit(Surv(AVAL, CNSR) ~ 1 (and ~ TRT01A), conf.type = "log") median and limits
#   rmst:     survival:::survmean(survfit(...)[g], rmean = tau): rmean and se; difference g - ref with
#             se sqrt(se_g^2 + se_ref^2); ratio on the log scale with se sqrt(se_g^2/r_g^2 + se_ref^2/r_ref^2)
#   competing: cmprsk::cuminc(AVAL, status, TRT01A) (status 0 censored, 1.. event types in sorted order):
#             estimates at given times (timepoints), var; Gray's test ($Tests)
#   forest:   coxph(~ TRT01A, subset = VAR == level) per level; interaction p:
#             anova(coxph(~ TRT01A + VAR), coxph(~ TRT01A * VAR)) likelihood-ratio p
suppressPackageStartupMessages({ library(survival); library(cmprsk) })
source(file.path("tests", "reference", "json.R"))
vec <- function(x) as.list(unname(x))

load <- function(dir, paramcd) {
  t <- read.csv(file.path(dir, "adtte.csv"), stringsAsFactors = FALSE, na.strings = c("", "NA"))
  s <- read.csv(file.path(dir, "adsl.csv"), stringsAsFactors = FALSE, na.strings = c("", "NA"))  # blank = missing, as ingest reads it
  t <- t[t$PARAMCD == paramcd, setdiff(names(t), intersect(names(t), setdiff(names(s), "USUBJID"))), drop = FALSE]
  d <- merge(t, s, by = "USUBJID")
  arms <- unique(s[order(s$TRT01AN), "TRT01A"])
  d$TRT01A <- factor(d$TRT01A, levels = arms[arms %in% d$TRT01A])
  d
}

cox_part <- function(fit) {
  s <- summary(fit)
  list(names = vec(names(coef(fit))), coef = vec(coef(fit)), se = vec(sqrt(diag(vcov(fit)))),
       p = vec(s$coefficients[, "Pr(>|z|)"]), n = fit$n, events = fit$nevent,
       # summary(fit) rounds its tests for printing: the unrounded ones, as summary.coxph computes them
       lr = vec(c(2 * diff(fit$loglik), s$logtest[["df"]], pchisq(2 * diff(fit$loglik), s$logtest[["df"]], lower.tail = FALSE))),
       wald = vec(c(fit$wald.test, s$waldtest[["df"]], pchisq(fit$wald.test, s$waldtest[["df"]], lower.tail = FALSE))),
       score = vec(c(fit$score, s$sctest[["df"]], pchisq(fit$score, s$sctest[["df"]], lower.tail = FALSE))))
}

zph_part <- function(fit) {
  z <- cox.zph(fit)
  list(terms = vec(rownames(z$table)), chisq = vec(z$table[, "chisq"]), df = vec(z$table[, "df"]), p = vec(z$table[, "p"]))
}

logrank_part <- function(formula, d, rho = 0) {
  sd <- survdiff(formula, data = d, rho = rho)
  e <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp  # as print.survdiff
  list(chisq = sd$chisq, df = sum(e > 0) - 1, p = sd$pvalue)
}

quant_part <- function(d) {
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d, conf.type = "log-log")
  q <- quantile(fit, c(0.25, 0.5, 0.75))
  arms <- levels(d$TRT01A)
  lapply(seq_along(arms), function(i) list(arm = arms[i], time = vec(q$quantile[i, ]), lower = vec(q$lower[i, ]),
                                           upper = vec(q$upper[i, ])))
}

followup_part <- function(d) {
  one <- function(f) { m <- summary(f)$table; list(median = unname(m["median"]), lower = unname(m["0.95LCL"]), upper = unname(m["0.95UCL"])) }
  out <- list(c(list(group = "All subjects"), one(survfit(Surv(AVAL, CNSR) ~ 1, data = d, conf.type = "log"))))
  for (g in levels(d$TRT01A)) out[[length(out) + 1]] <- c(list(group = g), one(survfit(Surv(AVAL, CNSR) ~ 1, data = d[d$TRT01A == g, ], conf.type = "log")))
  out
}

rmst_part <- function(d, tau) {
  arms <- levels(d$TRT01A)
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d)
  m <- t(sapply(seq_along(arms), function(i) survival:::survmean(fit[i], rmean = tau)$matrix[c("rmean", "se(rmean)")]))
  r0 <- m[1, 1]; s0 <- m[1, 2]
  lapply(seq_along(arms)[-1], function(i) {
    r <- m[i, 1]; s <- m[i, 2]
    dse <- sqrt(s^2 + s0^2); lse <- sqrt(s^2 / r^2 + s0^2 / r0^2)
    list(arm = arms[i], tau = tau, difference = r - r0, diff_se = dse, diff_lower = r - r0 - qnorm(0.975) * dse,
         diff_upper = r - r0 + qnorm(0.975) * dse, diff_p = 2 * pnorm(-abs((r - r0) / dse)), ratio = r / r0,
         ratio_lower = exp(log(r / r0) - qnorm(0.975) * lse), ratio_upper = exp(log(r / r0) + qnorm(0.975) * lse),
         ratio_p = 2 * pnorm(-abs(log(r / r0) / lse)))
  })
}

tau_default <- function(d) min(tapply(d$AVAL, d$TRT01A, max))

cases <- list()

# colon OS: stratified by SURG, adjusted for AGE, SEX, NODES (NODES missing for some: na.omit)
d <- load("fixtures/r_datasets/colon", "OS")
f <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + AGE + SEX + NODES + strata(SURG), data = d, ties = "efron")
cases$colon_strata_covariates <- list(
  argv = vec(c("--strata", "SURG", "--covariate", "AGE", "--covariate", "SEX", "--covariate", "NODES")),
  logrank = logrank_part(Surv(AVAL, 1 - CNSR) ~ TRT01A + strata(SURG), d), cox = cox_part(f), zph = zph_part(f),
  quantiles = quant_part(d), follow_up = followup_part(d), rmst_contrasts = rmst_part(d, tau_default(d)),
  n_dropped = sum(is.na(d$NODES)))

# colon OS: two strata, Peto-Peto weights, Breslow ties, DIFFER with reference Poor given on the command line
d2 <- d; d2$DIFFER <- relevel(factor(d2$DIFFER), ref = "Poor")
f <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + DIFFER + strata(SURG, SEX), data = d2, ties = "breslow")
cases$colon_two_strata_breslow <- list(
  argv = vec(c("--strata", "SURG", "--strata", "SEX", "--rho", "1", "--ties", "breslow", "--covariate", "DIFFER:Poor")),
  logrank = logrank_part(Surv(AVAL, 1 - CNSR) ~ TRT01A + strata(SURG, SEX), d2, rho = 1), cox = cox_part(f),
  zph = zph_part(f))

# colon OS: subgroup forest over SEX and OBSTRUCT
forest <- list()
for (v in c("SEX", "OBSTRUCT")) {
  full <- coxph(as.formula(paste("Surv(AVAL, 1 - CNSR) ~ TRT01A *", v)), data = d)
  main <- coxph(as.formula(paste("Surv(AVAL, 1 - CNSR) ~ TRT01A +", v)), data = d)
  pint <- anova(main, full)[2, "Pr(>|Chi|)"]
  for (lev in sort(unique(d[[v]]))) {
    fl <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d[d[[v]] == lev, ])
    ci <- summary(fl)$conf.int
    forest[[length(forest) + 1]] <- list(variable = v, level = lev, arms = vec(levels(d$TRT01A)[-1]),
                                         hr = vec(ci[, 1]), lower = vec(ci[, 3]), upper = vec(ci[, 4]), p_interaction = pint)
  }
}
cases$colon_forest <- list(argv = vec(c("--forest", "SEX,OBSTRUCT")), forest = forest)

# veteran: stratified by cell type, adjusted for the Karnofsky score (PH fails for KARNO)
d <- load("fixtures/r_datasets/veteran", "OS")
f <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + KARNO + strata(CELLTYPE), data = d)
cases$veteran_celltype_karno <- list(argv = vec(c("--strata", "CELLTYPE", "--covariate", "KARNO")),
  logrank = logrank_part(Surv(AVAL, 1 - CNSR) ~ TRT01A + strata(CELLTYPE), d), cox = cox_part(f), zph = zph_part(f))

# pbc DTHTX: death and liver transplant compete
d <- load("fixtures/r_datasets/pbc", "DTHTX")
types <- sort(unique(d$EVNTDESC[d$CNSR == 0]))
status <- ifelse(d$CNSR == 1, 0, match(d$EVNTDESC, types))
times <- c(1000, 2000, 3000)
ci <- cuminc(d$AVAL, status, d$TRT01A, cencode = 0)
tp <- timepoints(ci, times)
cif <- list()
for (nm in rownames(tp$est)) {
  parts <- strsplit(nm, " ")[[1]]
  arm <- paste(parts[-length(parts)], collapse = " ")
  cif[[length(cif) + 1]] <- list(arm = arm, event = types[as.integer(parts[length(parts)])], time = vec(times),
                                 estimate = vec(tp$est[nm, ]), var = vec(tp$var[nm, ]))
}
g <- ci$Tests
cases$pbc_competing <- list(argv = vec(c("--endpoint", "DTHTX", "--times", "1000,2000,3000")), event_types = vec(types),
  cif = cif, gray = list(event = vec(types[as.integer(rownames(g))]), chisq = vec(g[, "stat"]), p = vec(g[, "pv"]), df = vec(g[, "df"])))

# the built-in trial (an arm without deaths: its hazard ratio is not estimable): quartiles, follow-up, RMST contrasts
d <- load("fixtures/seed_trial", "OS")
cases$seed_default <- list(argv = vec(character(0)), quantiles = quant_part(d),
  follow_up = followup_part(d), rmst_contrasts = rmst_part(d, tau_default(d)))

writeLines(to_json(cases), file.path("tests", "reference", "survival_models_cli_r.json"))
cat("wrote tests/reference/survival_models_cli_r.json\n")
