# Reference values for trialkit's consistency checks (analyses/consistency.py), from base R and
# R's survival package.
#
# Run from the repository root (R >= 4.2, survival 3.x; no jsonlite needed):
#   Rscript tests/reference/make_consistency_reference.R
# Writes consistency_r.json beside this script:
#   statcheck: for each test, the p-value at the reported statistic and at the ends of its rounding
#     interval (statistic -/+ half a unit of its last decimal), two-sided for t, z and r:
#       t:    2 * pt(abs(stat), df, lower.tail = FALSE)
#       F:    pf(stat, df1, df2, lower.tail = FALSE)
#       chi2: pchisq(stat, df, lower.tail = FALSE)
#       z:    2 * pnorm(abs(stat), lower.tail = FALSE)
#       r:    2 * pt(abs(r) * sqrt(df / (1 - r^2)), df, lower.tail = FALSE)
#     The cases are the decision-error examples of statcheck's own tests
#     (tests/testthat/test-decisionerror.R: "t(28) = 2.20, p = .06" ...) and t(28) = 2.20.
#   implied_chi2: qchisq(0.3328, 2, lower.tail = FALSE), the chi-square a log-rank P = 0.3328 on 2 df implies.
#   ci: Altman & Bland (BMJ 2011;343:d2090): se = (log(U) - log(L)) / (2 * qnorm(0.975)) for a ratio
#     ((U - L) / (2 * qnorm(0.975)) for a difference), z = log(est) / se (est / se), p = 2 * pnorm(-abs(z)).
#   km: survfit(Surv(time, status) ~ 1) at a time after the last death, for hand-made patterns of
#     deaths (status 1) and censorings (status 0), named by what they show.
suppressPackageStartupMessages(library(survival))
source("tests/reference/json.R")

p_of <- function(test, stat, df1, df2) {
  switch(test,
    t = 2 * pt(abs(stat), df1, lower.tail = FALSE),
    F = pf(stat, df1, df2, lower.tail = FALSE),
    chi2 = pchisq(stat, df1, lower.tail = FALSE),
    z = 2 * pnorm(abs(stat), lower.tail = FALSE),
    r = 2 * pt(abs(stat) * sqrt(df1 / (1 - stat^2)), df1, lower.tail = FALSE))
}
cases <- list(
  list(test = "t", stat = "2.20", df1 = 28, df2 = NA, p = ".036"),
  list(test = "t", stat = "2.20", df1 = 28, df2 = NA, p = ".06"),
  list(test = "t", stat = "1.20", df1 = 28, df2 = NA, p = ".03"),
  list(test = "F", stat = "22.20", df1 = 2, df2 = 28, p = ".06"),
  list(test = "F", stat = "2.20", df1 = 2, df2 = 28, p = ".03"),
  list(test = "r", stat = ".22", df1 = 28, df2 = NA, p = ".03"),
  list(test = "r", stat = ".52", df1 = 28, df2 = NA, p = ".06"),
  list(test = "chi2", stat = "2.20", df1 = 28, df2 = NA, p = ".03"),
  list(test = "chi2", stat = "52.20", df1 = 28, df2 = NA, p = ".06"),
  list(test = "z", stat = "1.20", df1 = NA, df2 = NA, p = ".03"),
  list(test = "z", stat = "2.20", df1 = NA, df2 = NA, p = ".06"))
statcheck <- lapply(cases, function(k) {
  s <- as.numeric(k$stat)
  dec <- nchar(sub("^[^.]*\\.?", "", k$stat))
  half <- 0.5 / 10^dec
  c(k, list(p_at = p_of(k$test, s, k$df1, k$df2),
            p_low = p_of(k$test, s + half, k$df1, k$df2),   # larger statistic, smaller p
            p_up = p_of(k$test, max(s - half, 0), k$df1, k$df2)))
})

ci <- function(kind, est, low, high) {
  z975 <- qnorm(0.975)
  if (kind == "ratio") {
    se <- (log(high) - log(low)) / (2 * z975); z <- log(est) / se
  } else {
    se <- (high - low) / (2 * z975); z <- est / se
  }
  list(kind = kind, est = est, low = low, high = high, se = se, z = z, p = 2 * pnorm(-abs(z)))
}

km_at <- function(time, status, at) summary(survfit(Surv(time, status) ~ 1), times = at)$surv
km <- list(
  # 8 subjects: 2 censored at day 1, deaths at days 2 and 3 among the 6 left, the rest censored at day 10
  two_censored_then_two_deaths_of_8 = km_at(c(1, 1, 2, 3, 10, 10, 10, 10), c(0, 0, 1, 1, 0, 0, 0, 0), 5),
  # 8 subjects, 3 deaths, no censoring before them: 5/8
  three_deaths_of_8 = km_at(c(1, 2, 3, 10, 10, 10, 10, 10), c(1, 1, 1, 0, 0, 0, 0, 0), 5),
  # 8 subjects, one death: 7/8
  one_death_of_8 = km_at(c(1, 10, 10, 10, 10, 10, 10, 10), c(1, 0, 0, 0, 0, 0, 0, 0), 5),
  # 8 subjects: 5 censored at day 1, one death among the 3 left: 2/3 with a single death
  five_censored_then_one_death_of_8 = km_at(c(1, 1, 1, 1, 1, 2, 10, 10), c(0, 0, 0, 0, 0, 1, 0, 0), 5),
  # 50 subjects: 14 deaths, 1 censored, then 29 deaths among the 35 left: 108/875
  fourteen_deaths_one_censored_twentynine_deaths_of_50 =
    km_at(c(1:14, 15, 16:44, rep(100, 6)), c(rep(1, 14), 0, rep(1, 29), rep(0, 6)), 50))

out <- list(statcheck = statcheck,
            implied_chi2 = list(p = 0.3328, df = 2, chi2 = qchisq(0.3328, 2, lower.tail = FALSE)),
            ci = list(ci("ratio", 0.62, 0.41, 0.93), ci("ratio", 1.45, 1.02, 2.06), ci("difference", 2.3, 0.4, 4.2)),
            km = km)
writeLines(to_json(out), "tests/reference/consistency_r.json")
