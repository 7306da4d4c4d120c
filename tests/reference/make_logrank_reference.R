# Reference values for trialkit's stratified log-rank, G-rho and Fleming-Harrington tests
# (analyses/survival/compare.py), from R's survival package.
#
# Run from the repository root (R >= 4.2, survival 3.x, foreign; no jsonlite needed):
#   Rscript tests/reference/make_logrank_reference.R [PILOT_DIR]
# PILOT_DIR defaults to ../shared/data/cdiscpilot01 (the CDISC pilot XPT files, read with
# foreign::read.xport); when it is absent the pilot's cases are left out. Writes, beside
# this script, logrank_r.json: a list of cases, one per dataset x strata x (rho, gamma):
#   colon   fixtures/r_datasets/colon  PARAMCD OS, 3 arms; no strata, strata(SURG), strata(SURG, SEX)
#   veteran fixtures/r_datasets/veteran PARAMCD OS, 2 arms; no strata, strata(CELLTYPE)
#   pbc     fixtures/r_datasets/pbc    PARAMCD OS, 2 arms; no strata, strata(SEX)
#   seed    fixtures/seed_trial        PARAMCD OS, 3 arms; no strata, strata(SEX)
#   pilot   ADTTE PARAMCD TTDE x ADSL TRT01A/TRT01AN, 3 arms; no strata, strata(SEX), strata(AGEGR1)
# each with (rho, gamma) = (0, 0), (1, 0), (0, 1), (1, 1), (0.5, 0.5).
#
# TRT01A is a factor with levels in TRT01AN order (the first is the reference). The R calls:
#   gamma = 0:  survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A + strata(V1, V2), data, rho = rho)
#               (no strata() term without strata): chisq, df = sum(rowSums(exp) > 0) - 1, pvalue,
#               observed = rowSums(obs), expected = rowSums(exp), var.
#   gamma > 0:  R has no built-in; fh_test() below computes the Fleming-Harrington G(rho, gamma)
#               statistic from survfit(Surv(AVAL, 1 - CNSR) ~ 1) of each stratum (pooled arms):
#               w(t) = S(t-)^rho * (1 - S(t-))^gamma, S(t-) the left-continuous pooled KM of the
#               stratum; O_g = sum w d_g, E_g = sum w d n_g / N,
#               V_gh = sum w^2 d (N - d) / (N - 1) * n_g (delta_gh - n_h / N) / N (N > 1),
#               summed over strata; chisq = (O - E)' V^- (O - E) as survdiff does (groups with
#               E > 0, first dropped). The script checks (stopifnot) that fh_test reproduces
#               survdiff for gamma = 0, rho = 0, 1 and 0.5, on every dataset and strata.
#   pairwise:   the same test on each pair of arms alone (same strata); p_holm = p.adjust(p, "holm")
#               over the pairs whose p exists.
#   trend:      U = sum(s * (O - E)), V = t(s) %*% var %*% s (O, E, var summed over strata),
#               chisq = U^2 / V, p = pchisq(chisq, 1, lower.tail = FALSE), s = TRT01AN.
suppressPackageStartupMessages({
  library(survival)
  library(foreign)
})

args <- commandArgs(trailingOnly = TRUE)
pilot_dir <- if (length(args) >= 1) args[1] else "../shared/data/cdiscpilot01"
out_dir <- "tests/reference"
source(file.path(out_dir, "json.R"))  # to_json
vec <- function(x) as.list(unname(x))

WEIGHTS <- list(c(0, 0), c(1, 0), c(0, 1), c(1, 1), c(0.5, 0.5))

# ------------------------------------------------------------------ Fleming-Harrington from survfit
fh_stratum <- function(d, groups, rho, gamma) {
  k <- length(groups)
  out <- list(obs = numeric(k), exp = numeric(k), var = matrix(0, k, k))
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ 1, data = d)
  ev <- fit$n.event > 0
  if (!any(ev)) return(out)
  s_left <- c(1, head(fit$surv, -1))[ev]  # pooled S(t-)
  t <- fit$time[ev]
  N <- fit$n.risk[ev]
  dd <- fit$n.event[ev]
  w <- s_left^rho * (1 - s_left)^gamma
  grp <- as.character(d$TRT01A)
  n_g <- matrix(vapply(groups, function(g) vapply(t, function(u) sum(d$AVAL[grp == g] >= u), 0), numeric(length(t))),
                ncol = k)
  d_g <- matrix(vapply(groups, function(g) vapply(t, function(u) sum(1 - d$CNSR[grp == g & d$AVAL == u]), 0),
                       numeric(length(t))), ncol = k)
  out$obs <- colSums(w * d_g)
  out$exp <- colSums(w * dd * n_g / N)
  for (i in which(N > 1)) {
    kt <- w[i]^2 * dd[i] * (N[i] - dd[i]) / (N[i] - 1) / N[i]
    out$var <- out$var + kt * (diag(n_g[i, ], k) - outer(n_g[i, ], n_g[i, ]) / N[i])
  }
  out
}

fh_test <- function(d, groups, strata_vars, rho, gamma) {
  key <- if (length(strata_vars)) interaction(d[strata_vars], drop = TRUE) else factor(rep(1, nrow(d)))
  k <- length(groups)
  tot <- list(obs = numeric(k), exp = numeric(k), var = matrix(0, k, k))
  for (s in levels(key)) {
    part <- fh_stratum(d[key == s, ], groups, rho, gamma)
    tot$obs <- tot$obs + part$obs
    tot$exp <- tot$exp + part$exp
    tot$var <- tot$var + part$var
  }
  use <- tot$exp > 0
  df <- sum(use) - 1
  chisq <- NA
  if (df >= 1) {
    diff <- (tot$obs - tot$exp)[use][-1]
    chisq <- sum(solve(tot$var[use, use][-1, -1, drop = FALSE], diff) * diff)
  }
  list(chisq = chisq, df = df, p = if (df >= 1) pchisq(chisq, df, lower.tail = FALSE) else NA,
       observed = tot$obs, expected = tot$exp, var = tot$var)
}

r_survdiff <- function(d, strata_vars, rho) {
  rhs <- if (length(strata_vars)) paste0("TRT01A + strata(", paste(strata_vars, collapse = ", "), ")") else "TRT01A"
  sd <- survdiff(as.formula(paste("Surv(AVAL, 1 - CNSR) ~", rhs)), data = d, rho = rho)
  obs <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  exp <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  df <- sum(exp > 0) - 1
  list(chisq = if (df >= 1) sd$chisq else NA, df = df, p = if (df >= 1) sd$pvalue else NA,
       observed = obs, expected = exp, var = sd$var)
}

the_test <- function(d, groups, strata_vars, rho, gamma) {
  d$TRT01A <- factor(as.character(d$TRT01A), levels = groups)
  mine <- fh_test(d, groups, strata_vars, rho, gamma)
  if (gamma != 0) return(mine)
  r <- r_survdiff(d, strata_vars, rho)
  for (f in c("chisq", "p", "observed", "expected", "var")) {
    stopifnot(isTRUE(all.equal(unname(mine[[f]]), unname(r[[f]]), tolerance = 1e-10)))
  }
  stopifnot(mine$df == r$df)
  r
}

as_json_test <- function(x) {
  list(chisq = x$chisq, df = x$df, p = x$p, observed = vec(x$observed), expected = vec(x$expected),
       var = lapply(seq_len(nrow(x$var)), function(r) vec(x$var[r, ])))
}

one_case <- function(name, d, strata_vars, rho, gamma) {
  arms <- unique(d[order(d$TRT01AN, d$TRT01A), c("TRT01A", "TRT01AN")])
  groups <- as.character(arms$TRT01A)
  scores <- arms$TRT01AN
  if (length(strata_vars)) d <- d[complete.cases(d[strata_vars]), ]
  overall <- the_test(d, groups, strata_vars, rho, gamma)
  u <- sum(scores * (overall$observed - overall$expected))
  v <- as.numeric(t(scores) %*% overall$var %*% scores)
  pairs <- combn(length(groups), 2)
  pw <- lapply(seq_len(ncol(pairs)), function(j) {
    ab <- groups[pairs[, j]]
    x <- the_test(d[as.character(d$TRT01A) %in% ab, ], ab, strata_vars, rho, gamma)
    list(arm_a = ab[1], arm_b = ab[2], chisq = x$chisq, df = x$df, p = x$p)
  })
  holm <- p.adjust(vapply(pw, function(x) x$p, 0), method = "holm")
  for (j in seq_along(pw)) pw[[j]]$p_holm <- holm[j]
  list(dataset = name, strata = as.list(strata_vars), rho = rho, gamma = gamma, n = nrow(d),
       groups = vec(groups), scores = vec(scores), logrank = as_json_test(overall), pairwise = pw,
       trend = list(u = u, var = v, chisq = if (v > 0) u^2 / v else NA,
                    p = if (v > 0) pchisq(u^2 / v, 1, lower.tail = FALSE) else NA))
}

# ------------------------------------------------------------------ the datasets
fixture <- function(dir, paramcd, covariates) {
  tte <- read.csv(file.path(dir, "adtte.csv"), stringsAsFactors = FALSE)
  sl <- read.csv(file.path(dir, "adsl.csv"), stringsAsFactors = FALSE)
  merge(tte[tte$PARAMCD == paramcd, c("USUBJID", "AVAL", "CNSR")],
        sl[, c("USUBJID", "TRT01A", "TRT01AN", covariates)], by = "USUBJID")
}

datasets <- list(
  colon = list(data = fixture("fixtures/r_datasets/colon", "OS", c("SURG", "SEX")),
               strata = list(character(0), "SURG", c("SURG", "SEX"))),
  veteran = list(data = fixture("fixtures/r_datasets/veteran", "OS", "CELLTYPE"),
                 strata = list(character(0), "CELLTYPE")),
  pbc = list(data = fixture("fixtures/r_datasets/pbc", "OS", "SEX"), strata = list(character(0), "SEX")),
  seed = list(data = fixture("fixtures/seed_trial", "OS", "SEX"), strata = list(character(0), "SEX"))
)
if (file.exists(file.path(pilot_dir, "adtte.xpt"))) {
  adtte <- read.xport(file.path(pilot_dir, "adtte.xpt"))
  adsl <- read.xport(file.path(pilot_dir, "adsl.xpt"))
  pilot <- merge(adtte[adtte$PARAMCD == "TTDE", c("USUBJID", "AVAL", "CNSR")],
                 adsl[, c("USUBJID", "TRT01A", "TRT01AN", "SEX", "AGEGR1")], by = "USUBJID")
  pilot$TRT01A <- as.character(pilot$TRT01A)
  datasets$pilot <- list(data = pilot, strata = list(character(0), "SEX", "AGEGR1"))
} else {
  cat("no CDISC pilot at", pilot_dir, ": its cases are left out\n")
}

cases <- list()
for (name in names(datasets)) {
  for (sv in datasets[[name]]$strata) {
    for (wt in WEIGHTS) {
      cases[[length(cases) + 1]] <- one_case(name, datasets[[name]]$data, sv, wt[1], wt[2])
    }
    one_case(name, datasets[[name]]$data, sv, 0.5, 0)  # the stopifnot check at a third rho
  }
}

path <- file.path(out_dir, "logrank_r.json")
writeLines(to_json(list(r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
                        script = "tests/reference/make_logrank_reference.R", cases = cases)), path)
cat("wrote", path, "with", length(cases), "cases\n")
