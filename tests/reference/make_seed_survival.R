# Reference survival numbers for the SYNTHETIC seed trial, from R's survival
# package. Run from the repository root:
#   Rscript tests/reference/make_seed_survival.R
# It reads fixtures/seed_trial/{adtte,adsl}.csv and writes
# tests/reference/seed_survival_r.json (written by hand with base R: no jsonlite).
suppressPackageStartupMessages(library(survival))

adtte <- read.csv("fixtures/seed_trial/adtte.csv", stringsAsFactors = FALSE)
adsl <- read.csv("fixtures/seed_trial/adsl.csv", stringsAsFactors = FALSE)
os <- merge(adtte[adtte$PARAMCD == "OS", ], adsl[, c("USUBJID", "TRT01A")], by = "USUBJID")

fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = os)
s <- summary(fit, times = c(182, 730))
sd <- survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = os, rho = 0)
df <- length(sd$n) - 1
p <- pchisq(sd$chisq, df, lower.tail = FALSE)

num <- function(x) sprintf("%.15g", x)
strata <- sub("^TRT01A=", "", as.character(s$strata))
km <- vapply(unique(strata), function(g) {
  i <- strata == g
  sprintf('    "%s": {%s}', g,
          paste(sprintf('"%s": %s', s$time[i], num(s$surv[i])), collapse = ", "))
}, "")

json <- c(
  "{",
  sprintf('  "r_version": "%s",', R.version.string),
  sprintf('  "survival_version": "%s",', as.character(packageVersion("survival"))),
  '  "call": "survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A); summary(fit, times = c(182, 730)); survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, rho = 0)",',
  '  "km_survival": {',
  paste(km, collapse = ",\n"),
  "  },",
  sprintf('  "logrank": {"chisq": %s, "df": %d, "p": %s}', num(sd$chisq), df, num(p)),
  "}"
)
writeLines(json, "tests/reference/seed_survival_r.json")
cat(json, sep = "\n")
