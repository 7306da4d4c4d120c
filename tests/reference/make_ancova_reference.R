# Reference values for trialkit's ANCOVA engine (analyses/efficacy/ancova.py) and its
# LOCF derivation (analyses/efficacy/impute.py).
#
# Run from the repository root (R 4 with car, emmeans, jsonlite, foreign):
#     Rscript tests/reference/make_ancova_reference.R
# It writes tests/reference/ancova_r.json. The CDISC pilot cases are written only when
# ../shared/data/cdiscpilot01 exists.
#
# Which R call produces each number (per case, per weighting "equal" / "observed"):
#     options(contrasts = c("contr.sum", "contr.poly"))
#     fit <- lm(y ~ group + <covariates>, data)
#     tests:      car::Anova(fit, type = 3)                       (F, Df, Df.res, Pr(>F))
#     sigma, df:  sigma(fit), df.residual(fit)
#     lsmeans:    summary(emmeans(fit, ~ group, weights = "equal" | "proportional"),
#                         infer = TRUE)                           (emmean, SE, df, CI)
#     vs reference, unadjusted:  summary(contrast(em, "trt.vs.ctrl", adjust = "none"), infer = TRUE)
#     vs reference, adjusted p:  summary(contrast(em, "trt.vs.ctrl"))$p.value   (emmeans "dunnettx")
#     pairwise, unadjusted:      summary(pairs(em, reverse = TRUE, adjust = "none"), infer = TRUE)
#     pairwise, adjusted p:      summary(pairs(em, reverse = TRUE))$p.value     (Tukey, ptukey)
#     dose-response:  coef(summary(lm(y ~ dose + <covariates>, data)))["dose", ]
#                     (estimate, SE, t, p; df = df.residual)
#     large_df:   ptukey(sqrt(2) * t, 3, df, lower.tail = FALSE); 1 - emmeans:::.pdunnx(t, 2, df)
# The LOCF case derives its Week 24 records with the loop below (written independently of
# trialkit's polars code): for each subject, every scheduled post-baseline visit without an
# observed AVAL takes the AVAL of the subject's last observed earlier post-baseline visit;
# never the baseline value.
suppressPackageStartupMessages({
  library(car)
  library(emmeans)
  library(jsonlite)
  library(foreign)
})
options(contrasts = c("contr.sum", "contr.poly"))
emm_options(opt.digits = FALSE)

frame_rows <- function(df) lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))

contrast_rows <- function(unadj, adj, adjust) {
  u <- as.data.frame(summary(unadj, infer = TRUE, level = 0.95))
  a <- as.data.frame(summary(adj))
  data.frame(contrast = as.character(u$contrast), estimate = u$estimate, se = u$SE, df = u$df,
             t = u$t.ratio, p = u$p.value, lower = u$lower.CL, upper = u$upper.CL,
             adjust = adjust, p_adjusted = a$p.value, stringsAsFactors = FALSE)
}

one_case <- function(name, data, groups, covariates, dose = TRUE) {
  data$group <- factor(data$group, levels = groups)
  rhs <- paste(c("group", covariates), collapse = " + ")
  fit <- lm(as.formula(paste("y ~", rhs)), data = data)
  av <- car::Anova(fit, type = 3)
  terms <- setdiff(rownames(av), c("(Intercept)", "Residuals"))
  tests <- data.frame(term = terms, num_df = av[terms, "Df"], den_df = df.residual(fit),
                      f = av[terms, "F value"], p = av[terms, "Pr(>F)"], stringsAsFactors = FALSE)
  out <- list(name = name, n_records = nrow(data), n_subjects = length(unique(data$USUBJID)),
              groups = I(groups), covariates = I(covariates),
              sigma = sigma(fit), df_resid = df.residual(fit), tests = frame_rows(tests))
  for (w in c("equal", "observed")) {
    em <- emmeans(fit, ~ group, weights = if (w == "equal") "equal" else "proportional")
    s <- as.data.frame(summary(em, infer = TRUE, level = 0.95))
    ls <- data.frame(group = as.character(s$group), estimate = s$emmean, se = s$SE, df = s$df,
                     lower = s$lower.CL, upper = s$upper.CL, stringsAsFactors = FALSE)
    vs <- contrast_rows(contrast(em, "trt.vs.ctrl", adjust = "none"), contrast(em, "trt.vs.ctrl"), "dunnettx")
    pw <- contrast_rows(pairs(em, reverse = TRUE, adjust = "none"), pairs(em, reverse = TRUE), "tukey")
    out[[paste0("lsmeans_", w)]] <- frame_rows(ls)
    out[[paste0("vs_reference_", w)]] <- frame_rows(vs)
    out[[paste0("pairwise_", w)]] <- frame_rows(pw)
  }
  if (dose) {
    dfit <- lm(as.formula(paste("y ~", paste(c("dose", covariates), collapse = " + "))), data = data)
    cf <- coef(summary(dfit))["dose", ]
    out$dose <- list(estimate = cf[["Estimate"]], se = cf[["Std. Error"]], df = df.residual(dfit),
                     t = cf[["t value"]], p = cf[["Pr(>|t|)"]])
  }
  out
}

cases <- list()

# (3) mtcars: groups = cylinders, numeric covariate wt, categorical covariates AM and GEAR with
# unbalanced cells (equal and proportional weights differ); dose = cylinders as a number.
mt <- data.frame(USUBJID = rownames(mtcars), group = as.character(mtcars$cyl), y = mtcars$mpg,
                 wt = mtcars$wt, AM = ifelse(mtcars$am == 1, "manual", "automatic"),
                 GEAR = paste0("g", mtcars$gear), dose = mtcars$cyl, stringsAsFactors = FALSE)
cases$mtcars <- one_case("mtcars", mt, c("4", "6", "8"), c("wt", "AM", "GEAR"))
cases$mtcars$data <- mt

# warpbreaks with cells removed (unbalanced): breaks ~ tension + wool, no numeric covariate,
# four rows dropped so that wool is unbalanced across tension.
wb <- warpbreaks[-c(1, 2, 3, 30, 40), ]
wbd <- data.frame(USUBJID = as.character(seq_len(nrow(wb))), group = as.character(wb$tension),
                  y = wb$breaks, WOOL = as.character(wb$wool), stringsAsFactors = FALSE)
cases$warpbreaks <- one_case("warpbreaks", wbd, c("L", "M", "H"), c("WOOL"), dose = FALSE)
cases$warpbreaks$data <- wbd

# (2) the built-in seed trial: ALB change from baseline at Week 24 ~ group + BASE + SEX,
# dose = TRT01AN (1, 2, 3).
seed_lb <- read.csv("fixtures/seed_trial/adlb.csv", stringsAsFactors = FALSE)
seed_sl <- read.csv("fixtures/seed_trial/adsl.csv", stringsAsFactors = FALSE)
alb <- seed_lb[seed_lb$PARAMCD == "ALB", ]
base <- alb[alb$ABLFL %in% "Y", c("USUBJID", "AVAL")]
names(base)[2] <- "BASE"
wk <- merge(alb[alb$AVISIT == "Week 24", c("USUBJID", "AVAL")], base, by = "USUBJID")
wk <- merge(wk, seed_sl[, c("USUBJID", "TRT01A", "TRT01AN", "SEX")], by = "USUBJID")
seed <- data.frame(USUBJID = wk$USUBJID, group = wk$TRT01A, y = wk$AVAL - wk$BASE, BASE = wk$BASE,
                   SEX = wk$SEX, dose = as.numeric(wk$TRT01AN), stringsAsFactors = FALSE)
seed <- seed[complete.cases(seed), ]
cases$seed <- one_case("seed", seed, c("Low dose", "Medium dose", "High dose"), c("BASE", "SEX"))

# (1) the CDISC pilot: ADLBHY ALT, CHG = AVAL - BASE at Week 24 ~ TRTP + BASE + SITEGR1,
# dose = TRTPN; observed records, then with LOCF.
pilot <- "../shared/data/cdiscpilot01"
if (file.exists(file.path(pilot, "adsl.xpt"))) {
  lb <- read.xport(file.path(pilot, "adlbhy.xpt"))
  sl <- read.xport(file.path(pilot, "adsl.xpt"))
  alt <- lb[lb$PARAMCD == "ALT", c("USUBJID", "AVISIT", "AVISITN", "AVAL", "BASE", "TRTP", "TRTPN")]
  alt$AVISIT <- trimws(as.character(alt$AVISIT))
  alt$USUBJID <- trimws(as.character(alt$USUBJID))
  alt$TRTP <- trimws(as.character(alt$TRTP))
  site <- data.frame(USUBJID = trimws(as.character(sl$USUBJID)), SITEGR1 = trimws(as.character(sl$SITEGR1)))
  groups <- c("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose")
  as_case <- function(rows) {
    rows <- merge(rows, site, by = "USUBJID")
    out <- data.frame(USUBJID = rows$USUBJID, group = rows$TRTP, y = rows$AVAL - rows$BASE,
                      BASE = rows$BASE, SITEGR1 = rows$SITEGR1, dose = rows$TRTPN, stringsAsFactors = FALSE)
    list(all = nrow(out), kept = out[complete.cases(out), ])
  }
  obs <- as_case(alt[alt$AVISIT == "Week 24", ])
  cases$pilot_observed <- one_case("pilot_observed", obs$kept, groups, c("BASE", "SITEGR1"))
  cases$pilot_observed$n_input <- obs$all

  visits <- paste("Week", c(2, 4, 6, 8, 12, 16, 20, 24))
  post <- alt[alt$AVISIT %in% visits & !is.na(alt$AVAL), ]
  locf <- list()
  for (s in unique(post$USUBJID)) {
    r <- post[post$USUBJID == s, ]
    r <- r[order(r$AVISITN), ]
    last <- r[r$AVISITN <= 24, ]
    last <- last[nrow(last), ]
    locf[[s]] <- data.frame(USUBJID = s, AVAL = last$AVAL, BASE = last$BASE, TRTP = last$TRTP,
                            TRTPN = last$TRTPN, from_visit = last$AVISIT, stringsAsFactors = FALSE)
  }
  locf <- do.call(rbind, locf)
  lc <- as_case(locf)
  cases$pilot_locf <- one_case("pilot_locf", lc$kept, groups, c("BASE", "SITEGR1"))
  cases$pilot_locf$n_input <- lc$all
  cases$pilot_locf$week24 <- list(USUBJID = locf$USUBJID, AVAL = locf$AVAL,
                                  locf = locf$from_visit != "Week 24")
}

# Adjusted p-values at a large residual df (R's ptukey takes df > 25000 as infinite):
# |t| = 2.1, 3 groups, df = 30000 and 20000.
cases$large_df <- lapply(c(30000, 20000), function(df) list(
  df = df, t = 2.1,
  tukey = ptukey(sqrt(2) * 2.1, 3, df, lower.tail = FALSE),
  dunnettx = 1 - emmeans:::.pdunnx(2.1, 2, df)))

writeLines(toJSON(cases, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           "tests/reference/ancova_r.json")
