# Reference values for trialkit's proportional-hazards check (analyses/survival/zph.py),
# from R's survival package (3.x: the score test of cox.zph, rewritten in survival 3.0).
#
# Run from the repository root (R >= 4.2, survival >= 3.0; the JSON is written with base R):
#   Rscript tests/reference/make_zph_reference.R
# Writes tests/reference/zph_r.json.
#
# Data (every dataset sorted by USUBJID, the order the Python tests use too):
#   colon   fixtures/r_datasets/colon, ADTTE PARAMCD OS merged with ADSL; TRT01A a factor with levels in
#           TRT01AN order (Observation the reference), AGE numeric, SEX a factor (F the reference)
#   veteran fixtures/r_datasets/veteran, PARAMCD OS; TRT01A factor (TRT01AN order), KARNO, CELLTYPE strata
#           veteranpartial adds KARNO_NS = KARNO * (CELLTYPN != 1), constant within the squamous stratum
#   seed    fixtures/seed_trial, PARAMCD OS; TRT01A factor (TRT01AN order)
#
# For each case, the R calls behind each number:
#   fit  <- coxph(Surv(AVAL, 1 - CNSR) ~ <formula>, data, ties = <ties>)
#           coef = coef(fit), var = vcov(fit) (what trialkit passes in), x = model.matrix(fit)
#   zph  <- cox.zph(fit, transform = <transform>)              (terms = TRUE, the default)
#           table: zph$table[, "chisq"], [, "df"], [, "p"], one row per term and GLOBAL
#   zcol <- cox.zph(fit, transform = <transform>, terms = FALSE)   (only where "residuals" is written)
#           residuals: zcol$y (scaled Schoenfeld residuals, one column per design column, NA where a
#           column is constant within the event's stratum), zcol$x (transformed time), zcol$time,
#           zcol$var (the variance plot.cox.zph uses for its band)
#   smooth: what plot.cox.zph(zcol[j]) draws for design column j (df = 4, nsmo = 40): pred.x, yhat, yup, ylow,
#           computed with the lines of plot.cox.zph (ns(c(pred.x, x), df = 4, intercept = TRUE), qr fit,
#           2 * sqrt(var[j, j] * seval)).
suppressPackageStartupMessages({
  library(survival)
  library(splines)  # ns(), as plot.cox.zph
})
source(file.path("tests", "reference", "json.R"))  # to_json, num, str_json
vec <- function(x) as.list(unname(x))
mat <- function(m) lapply(seq_len(nrow(m)), function(r) vec(m[r, ]))

load_trial <- function(dir, extra) {
  tte <- read.csv(file.path(dir, "adtte.csv"), stringsAsFactors = FALSE)
  sl <- read.csv(file.path(dir, "adsl.csv"), stringsAsFactors = FALSE)
  d <- merge(tte[tte$PARAMCD == "OS", c("USUBJID", "AVAL", "CNSR")],
             sl[, c("USUBJID", "TRT01A", "TRT01AN", extra)], by = "USUBJID")
  d <- d[order(d$USUBJID), ]
  arms <- unique(d[order(d$TRT01AN), "TRT01A"])
  d$TRT01A <- factor(d$TRT01A, levels = arms)
  d
}

smooth_part <- function(zcol, j, df = 4, nsmo = 40) {
  xx <- zcol$x
  y <- zcol$y[, j]
  pred.x <- seq(from = min(xx), to = max(xx), length = nsmo)
  lmat <- ns(c(pred.x, xx), df = df, intercept = TRUE)
  pmat <- lmat[1:nsmo, ]
  xmat <- lmat[-(1:nsmo), ]
  keep <- !is.na(y)
  qmat <- qr(xmat[keep, ])
  yhat <- pmat %*% qr.coef(qmat, y[keep])
  bk <- backsolve(qmat$qr[1:df, 1:df], diag(df))
  seval <- ((pmat %*% (bk %*% t(bk))) * pmat) %*% rep(1, df)
  band <- 2 * sqrt(zcol$var[j, j] * seval)
  list(column = j - 1, pred_x = vec(pred.x), yhat = vec(yhat), yup = vec(yhat + band), ylow = vec(yhat - band))
}

case_part <- function(name, d, formula, ties, transform, residuals = FALSE) {
  # x, model: cox.zph reuses them. The seed trial has no events on Medium dose: coxph warns that its
  # coefficient may be infinite; cox.zph is still computed at the coefficients coxph returns.
  fit <- suppressWarnings(coxph(formula, data = d, ties = ties, x = TRUE, model = TRUE))
  zph <- cox.zph(fit, transform = transform)
  tab <- zph$table
  out <- list(name = name, formula = paste(deparse(formula), collapse = ""), ties = ties, transform = transform,
              n = fit$n, nevent = fit$nevent,
              columns = vec(names(coef(fit))), assign = lapply(fit$assign, function(a) vec(a - 1)),
              coef = vec(coef(fit)), var = mat(vcov(fit)),
              table = list(term = vec(rownames(tab)), chisq = vec(tab[, "chisq"]), df = vec(tab[, "df"]),
                           p = vec(tab[, "p"])))
  if (residuals) {
    zcol <- cox.zph(fit, transform = transform, terms = FALSE)
    out$residuals <- list(time = vec(zcol$time), x = vec(zcol$x), y = mat(zcol$y), var = mat(zcol$var),
                          strata = if (is.null(zcol$strata)) NULL else vec(as.character(zcol$strata)))
    # plot.cox.zph skips a spline fit of rank < df (the seed trial's 3 events)
    if (nrow(zcol$y) > 4) out$smooth <- lapply(seq_len(ncol(zcol$y)), function(j) smooth_part(zcol, j))
  }
  out
}

colon <- load_trial("fixtures/r_datasets/colon", c("AGE", "SEX", "SURG"))
colon$SEX <- factor(colon$SEX, levels = c("F", "M"))
veteran <- load_trial("fixtures/r_datasets/veteran", c("KARNO", "CELLTYPE", "CELLTYPN"))
veteran$CELLTYPE <- factor(veteran$CELLTYPE, levels = unique(veteran[order(veteran$CELLTYPN), "CELLTYPE"]))
seed <- load_trial("fixtures/seed_trial", character(0))

cases <- list()
for (strat in c(FALSE, TRUE)) {
  f <- if (strat) Surv(AVAL, 1 - CNSR) ~ TRT01A + AGE + SEX + strata(SURG) else Surv(AVAL, 1 - CNSR) ~ TRT01A + AGE + SEX
  for (ties in c("efron", "breslow")) for (tr in c("km", "rank", "identity", "log")) {
    name <- sprintf("colon%s_%s_%s", if (strat) "_surg" else "", ties, tr)
    res <- (ties == "efron" && tr == "km") || (strat && ties == "breslow" && tr == "rank")
    cases[[name]] <- case_part(name, colon, f, ties, tr, residuals = res)
  }
}
for (ties in c("efron", "breslow")) for (tr in c("km", "rank", "identity", "log")) {
  name <- sprintf("veteran_%s_%s", ties, tr)
  cases[[name]] <- case_part(name, veteran, Surv(AVAL, 1 - CNSR) ~ TRT01A + KARNO + strata(CELLTYPE), ties, tr,
                             residuals = ties == "efron" && tr == "km")
}
# a column constant (0) within one stratum (squamous): its residuals there are NA, and the scaling of the
# others uses only the strata where both columns vary (cox.zph's used / wtmat)
veteran$KARNO_NS <- veteran$KARNO * (veteran$CELLTYPN != 1)
for (ties in c("efron", "breslow")) {
  name <- sprintf("veteranpartial_%s_km", ties)
  cases[[name]] <- case_part(name, veteran, Surv(AVAL, 1 - CNSR) ~ TRT01A + KARNO + KARNO_NS + strata(CELLTYPE),
                             ties, "km", residuals = TRUE)
}
for (ties in c("efron", "breslow")) for (tr in c("km", "rank")) {
  name <- sprintf("seed_%s_%s", ties, tr)
  cases[[name]] <- case_part(name, seed, Surv(AVAL, 1 - CNSR) ~ TRT01A, ties, tr, residuals = tr == "km")
}

meta <- list(generated_by = "tests/reference/make_zph_reference.R",
             r_version = R.version.string, survival_version = as.character(packageVersion("survival")))
writeLines(to_json(c(meta, list(cases = cases))), file.path("tests", "reference", "zph_r.json"))
