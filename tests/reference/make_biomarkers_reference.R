# Reference numbers for trialkit biomarkers, computed independently in base R + nlme.
# Run from the repository root:
#   Rscript tests/reference/make_biomarkers_reference.R
# Reads fixtures/seed_trial/{adlb,adsl}.csv (the SYNTHETIC built-in trial) and, when present,
# ../shared/data/cdiscpilot01/{adlbhy,adsl}.xpt (CDISC pilot), and writes CSV files to
# tests/reference/biomarkers/ (numbers with 15 significant digits).
#
# Definitions (independent of trialkit's code): BASE = AVAL of the ABLFL == "Y" record of the
# subject and parameter; CHG = AVAL - BASE on records with AVISITN above the baseline record's;
# groups = ADSL TRT01A ordered by TRT01AN; "All" pools the groups.
# Calls:
#   summaries: length, mean, sd, median, quantile(type = 7), min, max
#   within:    t.test(CHG) (mu = 0, conf.level = 0.95); wilcox.test(signif(CHG, 12)) (R defaults: exact =
#              NULL, correct = TRUE)
#   between:   oneway.test(y ~ TRT01A, var.equal = TRUE); kruskal.test(signif(y, 12) ~ TRT01A), y = AVAL or CHG
#   Rank tests see values rounded to 12 significant digits, as trialkit does, so that AVAL - BASE
#   rounding noise (10.26 - 8.55 != 8.55 - 6.84 in binary) does not split ties. (Unrounded, R
#   ranks such values apart but counts them as ties in kruskal.test's correction, via table().)
#   adjust:    p.adjust(p, "holm"), p.adjust(p, "BH") over the visits of a parameter (pooled t-tests)
#   model:     options(contrasts = c("contr.sum", "contr.poly"))
#              nlme::lme(CHG ~ BASE + TRT01A * AVISIT, random = ~ 1 | USUBJID, method = "REML")
#              anova(fit, type = "marginal"); fixef(fit); vcov(fit); marginal means
#              emmeans(fit, ~ TRT01A | AVISIT): estimate, SE, df ("containment" for lme) and t limits
#              (L %*% fixef(fit) at BASE = mean(BASE), except where BASE takes two values: emmeans then
#              averages over them, cov.keep = "2")
suppressPackageStartupMessages(library(nlme))
options(contrasts = c("contr.sum", "contr.poly"))
OUT <- "tests/reference/biomarkers"
dir.create(OUT, showWarnings = FALSE, recursive = TRUE)
num <- function(x) ifelse(is.na(x), "", sprintf("%.15g", x))

write_ref <- function(df, name) {
  text <- which(!vapply(df, is.numeric, NA))  # quote the text columns only
  for (col in names(df)) if (is.numeric(df[[col]])) df[[col]] <- num(df[[col]])
  write.csv(df, file.path(OUT, name), row.names = FALSE, na = "", quote = text)
  cat("wrote", file.path(OUT, name), nrow(df), "rows\n")
}

prepare <- function(adlb, adsl) {
  adlb <- adlb[, setdiff(names(adlb), c("BASE", "CHG", "PCHG", "TRT01A", "TRT01AN"))]  # recomputed here
  adlb$ABLFL[is.na(adlb$ABLFL)] <- ""
  base <- adlb[adlb$ABLFL == "Y", c("USUBJID", "PARAMCD", "AVAL", "AVISITN")]
  names(base) <- c("USUBJID", "PARAMCD", "BASE", "BASEVISN")
  d <- merge(adlb, base, by = c("USUBJID", "PARAMCD"), all.x = TRUE)
  d$CHG <- ifelse(!is.na(d$BASEVISN) & d$AVISITN > d$BASEVISN, d$AVAL - d$BASE, NA)
  d <- merge(d, adsl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
  arms <- unique(adsl[order(adsl$TRT01AN, adsl$TRT01A), "TRT01A"])
  d$TRT01A <- factor(d$TRT01A, levels = arms)
  d
}

describe <- function(x) {
  x <- x[!is.na(x)]
  n <- length(x)
  if (n == 0) return(c(n = 0, mean = NA, sd = NA, median = NA, q1 = NA, q3 = NA, min = NA, max = NA))
  q <- quantile(x, c(0.25, 0.75), type = 7, names = FALSE)
  c(n = n, mean = mean(x), sd = if (n > 1) sd(x) else NA, median = median(x), q1 = q[1], q3 = q[2],
    min = min(x), max = max(x))
}

groups_of <- function(d) c(levels(d$TRT01A), "All")
in_group <- function(d, g) if (g == "All") d else d[d$TRT01A == g, ]

summaries <- function(d, params) {
  rows <- list()
  for (p in params) for (g in groups_of(d)) {
    dp <- in_group(d[d$PARAMCD == p, ], g)
    for (v in sort(unique(d$AVISITN[d$PARAMCD == p]))) {
      dv <- dp[dp$AVISITN == v, ]
      a <- describe(dv$AVAL); ch <- describe(dv$CHG)
      rows[[length(rows) + 1]] <- data.frame(param = p, arm = g, visitn = v, t(a),
                                             t(setNames(ch, paste0("chg_", names(ch)))))
    }
  }
  do.call(rbind, rows)
}

within <- function(d, params) {
  rows <- list()
  for (p in params) for (g in groups_of(d)) {
    dp <- in_group(d[d$PARAMCD == p & !is.na(d$CHG), ], g)
    for (v in sort(unique(d$AVISITN[d$PARAMCD == p & !is.na(d$CHG)]))) {
      x <- dp$CHG[dp$AVISITN == v]
      tt <- if (length(x) > 1 && sd(x) > 0) t.test(x) else NULL
      wt <- if (length(x) > 1 && any(x != 0)) suppressWarnings(wilcox.test(signif(x, 12))) else NULL
      rows[[length(rows) + 1]] <- data.frame(
        param = p, arm = g, visitn = v, n = length(x), mean = if (length(x)) mean(x) else NA,
        t = if (is.null(tt)) NA else unname(tt$statistic),
        t_p = if (is.null(tt)) NA else tt$p.value,
        lower = if (is.null(tt)) NA else tt$conf.int[1], upper = if (is.null(tt)) NA else tt$conf.int[2],
        v = if (is.null(wt)) NA else unname(wt$statistic), wilcoxon_p = if (is.null(wt)) NA else wt$p.value)
    }
  }
  out <- do.call(rbind, rows)
  out$t_p_holm <- NA; out$t_p_bh <- NA
  for (p in params) for (g in groups_of(d)) {
    i <- out$param == p & out$arm == g
    out$t_p_holm[i] <- p.adjust(out$t_p[i], "holm")
    out$t_p_bh[i] <- p.adjust(out$t_p[i], "BH")
  }
  out
}

between <- function(d, params) {
  rows <- list()
  for (p in params) for (variable in c("AVAL", "CHG")) {
    dp <- d[d$PARAMCD == p & !is.na(d[[variable]]), ]
    for (v in sort(unique(dp$AVISITN))) {
      dv <- dp[dp$AVISITN == v, ]
      dv$y <- dv[[variable]]
      dv$TRT01A <- droplevels(dv$TRT01A)
      if (nlevels(dv$TRT01A) < 2 || length(unique(dv$y)) < 2) next
      ow <- oneway.test(y ~ TRT01A, data = dv, var.equal = TRUE)
      kw <- kruskal.test(signif(y, 12) ~ TRT01A, data = dv)
      rows[[length(rows) + 1]] <- data.frame(param = p, variable = variable, visitn = v, n = nrow(dv),
                                             f = unname(ow$statistic), anova_p = ow$p.value,
                                             h = unname(kw$statistic), kruskal_p = kw$p.value)
    }
  }
  do.call(rbind, rows)
}

models <- function(d, params) {
  fits <- list(); coefs <- list(); means <- list()
  for (p in params) {
    dm <- d[d$PARAMCD == p & !is.na(d$CHG) & !is.na(d$BASE), ]
    dm$AVISIT <- factor(dm$AVISITN, levels = sort(unique(dm$AVISITN)))
    dm$TRT01A <- droplevels(dm$TRT01A)
    fit <- tryCatch(lme(CHG ~ BASE + TRT01A * AVISIT, random = ~ 1 | USUBJID, data = dm, method = "REML",
                        control = lmeControl(maxIter = 500, msMaxIter = 500, niterEM = 100)),
                    error = function(e) NULL)
    if (is.null(fit)) { cat("lme failed for", p, "\n"); next }
    an <- anova(fit, type = "marginal")
    tau <- sqrt(as.numeric(getVarCov(fit)))
    fits[[length(fits) + 1]] <- data.frame(
      param = p, n_obs = nrow(dm), n_subjects = length(unique(dm$USUBJID)),
      interaction_f = an["TRT01A:AVISIT", "F-value"], interaction_df1 = an["TRT01A:AVISIT", "numDF"],
      interaction_df2 = an["TRT01A:AVISIT", "denDF"], interaction_p = an["TRT01A:AVISIT", "p-value"],
      group_f = an["TRT01A", "F-value"], group_df1 = an["TRT01A", "numDF"], group_df2 = an["TRT01A", "denDF"],
      group_p = an["TRT01A", "p-value"], visit_f = an["AVISIT", "F-value"], visit_df2 = an["AVISIT", "denDF"],
      visit_p = an["AVISIT", "p-value"], sigma = fit$sigma, sd_subject = tau, loglik = as.numeric(logLik(fit)))
    b <- fixef(fit); V <- vcov(fit)
    coefs[[length(coefs) + 1]] <- data.frame(param = p, index = seq_along(b), name = names(b), estimate = unname(b),
                                             se = sqrt(diag(V)))
    grid <- expand.grid(AVISIT = levels(dm$AVISIT), TRT01A = levels(dm$TRT01A))
    grid$BASE <- mean(dm$BASE)
    grid$CHG <- 0
    L <- model.matrix(CHG ~ BASE + TRT01A * AVISIT, data = grid)
    mm <- data.frame(param = p, arm = as.character(grid$TRT01A), visitn = as.numeric(as.character(grid$AVISIT)),
                     estimate = as.vector(L %*% b), se = sqrt(diag(L %*% V %*% t(L))))
    # emmeans' df for an lme fit (its default, "containment") and its t limits
    em <- as.data.frame(summary(emmeans::emmeans(fit, ~ TRT01A | AVISIT, data = dm)))
    at <- match(paste(grid$TRT01A, grid$AVISIT), paste(em$TRT01A, em$AVISIT))
    mm$estimate <- em$emmean[at]; mm$se <- em$SE[at]  # equal to L b and sqrt(L V L') except for a BASE with
    mm$df <- em$df[at]; mm$lower <- em$lower.CL[at]; mm$upper <- em$upper.CL[at]  # two values (cov.keep)
    means[[length(means) + 1]] <- mm
  }
  list(models = do.call(rbind, fits), coefficients = do.call(rbind, coefs), means = do.call(rbind, means))
}

run <- function(d, params, tag) {
  write_ref(summaries(d, params), sprintf("%s_summaries.csv", tag))
  write_ref(within(d, params), sprintf("%s_within.csv", tag))
  write_ref(between(d, params), sprintf("%s_between.csv", tag))
  m <- models(d, params)
  write_ref(m$models, sprintf("%s_models.csv", tag))
  write_ref(m$coefficients, sprintf("%s_coefficients.csv", tag))
  write_ref(m$means, sprintf("%s_marginal_means.csv", tag))
}

# ---------------------------------------------------------------- built-in (synthetic) trial
seed_lb <- read.csv("fixtures/seed_trial/adlb.csv", stringsAsFactors = FALSE, na.strings = "")
seed_sl <- read.csv("fixtures/seed_trial/adsl.csv", stringsAsFactors = FALSE, na.strings = "")
seed <- prepare(seed_lb, seed_sl)
run(seed, unique(seed_lb$PARAMCD), "seed")

# ---------------------------------------------------------------- CDISC pilot (ADLBHY)
pilot_dir <- "../shared/data/cdiscpilot01"
if (file.exists(file.path(pilot_dir, "adlbhy.xpt"))) {
  suppressPackageStartupMessages(library(foreign))
  chr <- function(df) { for (c in names(df)) if (is.factor(df[[c]])) df[[c]] <- as.character(df[[c]]); df }
  lb <- chr(read.xport(file.path(pilot_dir, "adlbhy.xpt")))
  sl <- chr(read.xport(file.path(pilot_dir, "adsl.xpt")))
  lb <- lb[lb$PARAMCD %in% c("ALT", "AST", "BILI"), ]
  for (c in names(lb)) if (is.character(lb[[c]])) lb[[c]][lb[[c]] == ""] <- NA
  pilot <- prepare(lb, sl)
  run(pilot, c("ALT", "AST", "BILI"), "pilot")
} else {
  cat("CDISC pilot not found in", pilot_dir, "- pilot references not regenerated\n")
}
cat(R.version.string, "; nlme", as.character(packageVersion("nlme")), "\n")
