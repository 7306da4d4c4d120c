# Reference values for trialkit's Cox model (analyses/survival/coxfit.py, cox.py, forest.py).
#
# Run from the repository root (R >= 4.2, survival 3.x, foreign; the JSON is written with base R):
#   Rscript tests/reference/make_cox_reference.R [PILOT_DIR]
# PILOT_DIR defaults to ../shared/data/cdiscpilot01 (the CDISC pilot; its case is skipped when absent).
# Writes tests/reference/cox_r.json.
#
# Data: fixtures/r_datasets/{colon,veteran,pbc} and fixtures/seed_trial ADTTE rows of one PARAMCD merged
# with ADSL by USUBJID; TRT01A is a factor in TRT01AN order (the first level is the reference arm).
# A categorical covariate is a factor whose levels follow its companion <NAME>N when there is one
# (DIFFER by DIFFERN, EXTENT by EXTENTN), else sorted (factor()'s default); the reference is the first
# level unless the case says otherwise (relevel). Each case records, for ties = "efron" and "breslow":
#   fit <- coxph(<formula>, data, ties = ties)           # rows with NA in the model dropped (na.omit)
#   coef = coef(fit), se = sqrt(diag(vcov(fit))), hr/lower/upper = summary(fit)$conf.int[, c(1, 3, 4)],
#   p = summary(fit)$coefficients[, "Pr(>|z|)"], loglik = fit$loglik, n = fit$n, events = fit$nevent,
#   tests: summary(fit)$logtest, $waldtest, $sctest -- statistics unrounded: 2 * diff(fit$loglik),
#          fit$wald.test, fit$score; df = number of non-NA coefficients; p = pchisq(, df, lower.tail = FALSE)
# The forest (colon OS, SEX and OBSTRUCT, with and without strata(SURG)): per level and arm,
#   coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A [+ strata(SURG)], data, subset = VAR == level, ties = ties)
#   summary(fit)$conf.int, $coefficients[, 5]; the interaction p
#   anova(coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + VAR [+ strata(SURG)]), coxph(... ~ TRT01A * VAR ...))
suppressPackageStartupMessages({
  library(survival)
  library(foreign)
})

args <- commandArgs(trailingOnly = TRUE)
pilot_dir <- if (length(args) >= 1) args[1] else "../shared/data/cdiscpilot01"
source(file.path("tests", "reference", "json.R"))  # to_json
vec <- function(x) as.list(unname(x))

load_csv <- function(name, paramcd) {
  dir <- file.path("fixtures", if (name == "seed") "seed_trial" else file.path("r_datasets", name))
  # blank cells are missing values (as trialkit reads them), not a level ""
  tte <- read.csv(file.path(dir, "adtte.csv"), stringsAsFactors = FALSE, na.strings = c("", "NA"))
  sl <- read.csv(file.path(dir, "adsl.csv"), stringsAsFactors = FALSE, na.strings = c("", "NA"))
  merge(tte[tte$PARAMCD == paramcd, c("USUBJID", "AVAL", "CNSR")], sl, by = "USUBJID")
}

as_factor <- function(d, v, ref = NULL) {
  comp <- paste0(v, "N")
  lev <- if (comp %in% names(d)) {
    u <- unique(d[!is.na(d[[v]]), c(v, comp)])
    as.character(u[order(u[[comp]]), v])
  } else sort(unique(as.character(d[[v]][!is.na(d[[v]])])))
  f <- factor(as.character(d[[v]]), levels = lev)
  if (!is.null(ref)) f <- relevel(f, ref = ref)
  f
}

prepare <- function(d, factors) {
  arms <- unique(d[order(d$TRT01AN, d$TRT01A), c("TRT01A", "TRT01AN")])
  d$TRT01A <- factor(d$TRT01A, levels = arms$TRT01A)
  for (v in names(factors)) d[[v]] <- as_factor(d, v, factors[[v]])
  d
}

# term and level of each coefficient: factor -> "<var><level>", numeric -> "<var>"
coef_labels <- function(d, vars) {
  out <- list()
  for (v in vars) {
    if (is.factor(d[[v]])) {
      for (lev in levels(d[[v]])[-1]) out[[paste0(v, lev)]] <- list(term = v, level = lev)
    } else out[[v]] <- list(term = v, level = NULL)
  }
  out
}

fit_part <- function(formula, d, vars, ties) {
  fit <- coxph(formula, data = d, ties = ties)
  s <- summary(fit)
  labels <- coef_labels(d, vars)
  terms <- lapply(names(coef(fit)), function(nm) {
    lab <- labels[[nm]]
    list(term = lab$term, level = if (is.null(lab$level)) NULL else lab$level, coef = unname(coef(fit)[nm]),
         se = unname(sqrt(diag(vcov(fit)))[nm]), hr = s$conf.int[nm, 1], lower = s$conf.int[nm, 3],
         upper = s$conf.int[nm, 4], p = s$coefficients[nm, 5])
  })
  # summary() rounds the Wald and score statistics for printing: take them unrounded from the fit
  df <- sum(!is.na(coef(fit)))
  test <- function(chisq) list(chisq = unname(chisq), df = df, p = pchisq(unname(chisq), df, lower.tail = FALSE))
  list(terms = terms, loglik = vec(fit$loglik), n = fit$n, events = fit$nevent,
       tests = list(lr = test(2 * diff(fit$loglik)), wald = test(fit$wald.test), score = test(fit$score)))
}

# An arm without events has coefficient -Inf (coxph warns "coefficient may be infinite"): as trialkit
# does, it is recorded as not estimable and the model is the limit of the MLE, the fit without that arm.
case <- function(data, paramcd, d, rhs, vars, strata, covariates) {
  formula <- as.formula(paste("Surv(AVAL, 1 - CNSR) ~", rhs))
  groups <- levels(d$TRT01A)
  ev <- tapply(1 - d$CNSR, d$TRT01A, sum)
  empty <- groups[ev[groups] == 0]
  call <- paste0("coxph(Surv(AVAL, 1 - CNSR) ~ ", rhs, ", ties = ties)")
  if (length(empty)) {
    d <- d[!d$TRT01A %in% empty, ]
    d$TRT01A <- droplevels(d$TRT01A)
    call <- sub(", ties", sprintf(", subset = !TRT01A %%in%% c(\"%s\"), ties", paste(empty, collapse = "\", \"")), call)
  }
  list(data = data, paramcd = paramcd, call = call, groups = vec(groups), no_events = as.list(empty),
       strata = as.list(strata), covariates = as.list(covariates),
       efron = fit_part(formula, d, vars, "efron"), breslow = fit_part(formula, d, vars, "breslow"))
}

cases <- list()
colon <- prepare(load_csv("colon", "OS"), list(SEX = NULL, DIFFER = NULL))
cases$colon_trt <- case("colon", "OS", colon, "TRT01A", "TRT01A", c(), c())
cases$colon_strata_surg <- case("colon", "OS", colon, "TRT01A + strata(SURG)", "TRT01A", c("SURG"), c())
cases$colon_strata_surg_sex <- case("colon", "OS", colon, "TRT01A + strata(SURG, SEX)", "TRT01A", c("SURG", "SEX"), c())
cases$colon_covariates <- case("colon", "OS", colon, "TRT01A + AGE + SEX + NODES", c("TRT01A", "AGE", "SEX", "NODES"),
                               c(), c("AGE", "SEX", "NODES"))
cases$colon_differ <- case("colon", "OS", colon, "TRT01A + DIFFER", c("TRT01A", "DIFFER"), c(), c("DIFFER"))
rfs <- prepare(load_csv("colon", "RFS"), list(SEX = "M", EXTENT = NULL))
cases$colon_rfs_references <- case("colon", "RFS", rfs, "TRT01A + SEX + EXTENT + NODES + strata(SURG)",
                                   c("TRT01A", "SEX", "EXTENT", "NODES"), c("SURG"), c("SEX:M", "EXTENT", "NODES"))
veteran <- prepare(load_csv("veteran", "OS"), list())
cases$veteran_celltype_karno <- case("veteran", "OS", veteran, "TRT01A + KARNO + strata(CELLTYPE)", c("TRT01A", "KARNO"),
                                     c("CELLTYPE"), c("KARNO"))
pbc <- prepare(load_csv("pbc", "OS"), list(STAGE = "1"))
cases$pbc_trt <- case("pbc", "OS", pbc, "TRT01A", "TRT01A", c(), c())
cases$pbc_covariates <- case("pbc", "OS", pbc, "TRT01A + AGE + ALBUMIN + STAGE", c("TRT01A", "AGE", "ALBUMIN", "STAGE"),
                             c(), c("AGE", "ALBUMIN", "STAGE:1"))
seed <- prepare(load_csv("seed", "OS"), list())
cases$seed_trt <- case("seed", "OS", seed, "TRT01A", "TRT01A", c(), c())
if (file.exists(file.path(pilot_dir, "adtte.xpt"))) {
  tte <- read.xport(file.path(pilot_dir, "adtte.xpt"))
  sl <- read.xport(file.path(pilot_dir, "adsl.xpt"))
  # AGE and SEX come from ADTTE (which has them), as trialkit's attach_variables takes them
  pilot <- merge(tte[tte$PARAMCD == "TTDE", c("USUBJID", "AVAL", "CNSR", "AGE", "SEX")],
                 sl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
  pilot$SEX <- as.character(pilot$SEX)
  pilot$TRT01A <- as.character(pilot$TRT01A)
  pilot <- prepare(pilot, list(SEX = NULL))
  cases$pilot_ttde <- case("pilot", "TTDE", pilot, "TRT01A + AGE + SEX", c("TRT01A", "AGE", "SEX"), c(), c("AGE", "SEX"))
}

# ------------------------------------------------------------------ forest
forest_part <- function(d, variables, strata, ties) {
  st <- if (length(strata)) paste0(" + strata(", paste(strata, collapse = ", "), ")") else ""
  f_trt <- as.formula(paste0("Surv(AVAL, 1 - CNSR) ~ TRT01A", st))
  arms <- levels(d$TRT01A)
  rows <- list()
  add <- function(sub, variable, level) {
    sub$TRT01A <- droplevels(sub$TRT01A)
    fit <- coxph(f_trt, data = sub, ties = ties)
    s <- summary(fit)
    for (a in arms[-1]) {
      nm <- paste0("TRT01A", a)
      rows[[length(rows) + 1]] <<- list(variable = variable, level = level, arm = a,
        n = sum(sub$TRT01A %in% c(arms[1], a)), events = sum(1 - sub$CNSR[sub$TRT01A %in% c(arms[1], a)]),
        hr = s$conf.int[nm, 1], lower = s$conf.int[nm, 3], upper = s$conf.int[nm, 4], p = s$coefficients[nm, 5])
    }
  }
  add(d, "All subjects", NULL)
  inter <- list()
  for (v in variables) {
    dv <- d[!is.na(d[[v]]), ]
    f0 <- as.formula(paste0("Surv(AVAL, 1 - CNSR) ~ TRT01A + ", v, st))
    f1 <- as.formula(paste0("Surv(AVAL, 1 - CNSR) ~ TRT01A * ", v, st))
    a <- anova(coxph(f0, data = dv, ties = ties), coxph(f1, data = dv, ties = ties))
    inter[[v]] <- list(chisq = a$Chisq[2], df = a$Df[2], p = a[["Pr(>|Chi|)"]][2])
    for (lev in levels(dv[[v]])) add(dv[dv[[v]] == lev, ], v, lev)
  }
  list(rows = rows, interaction = inter)
}

forest <- prepare(load_csv("colon", "OS"), list(SEX = NULL, OBSTRUCT = NULL))
forests <- list()
for (strata in list(c(), c("SURG"))) {
  key <- if (length(strata)) "strata_surg" else "unstratified"
  forests[[key]] <- list(strata = as.list(strata), variables = list("SEX", "OBSTRUCT"),
                         efron = forest_part(forest, c("SEX", "OBSTRUCT"), strata, "efron"),
                         breslow = forest_part(forest, c("SEX", "OBSTRUCT"), strata, "breslow"))
}

out <- list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
            script = "tests/reference/make_cox_reference.R", cases = cases,
            forest = c(list(data = "colon", paramcd = "OS"), forests))
writeLines(to_json(out), file.path("tests", "reference", "cox_r.json"))
cat("wrote tests/reference/cox_r.json\n")
