# Reference numbers for trialkit's MMRM (analyses/efficacy/mmrm.py), computed in R with nlme + emmeans.
# Run from the repository root:
#   Rscript tests/reference/make_mmrm_reference.R
# Writes tests/reference/mmrm_r.json (numbers with 17 significant digits; see json.R).
#
# Data (each fit's "data" entry in the JSON repeats the subset):
#   fev     fixtures/fev_data/{adlb,adsl}.csv (mmrm's artificial fev_data as BDS): y = AVAL (FEV1; there is
#           no baseline record, so no CHG), group = TRT01P (PBO, TRT), visits VIS1..VIS4, covariates RACE,
#           SEX (model "fev") and BASE, RACE, SEX (model "fev_base").
#   pilot   /work/shared/data/cdiscpilot01/adlbhy.xpt (CDISC pilot, foreign::read.xport; skipped when absent),
#           PARAMCD "ALT": y = CHG = AVAL - BASE on the post-baseline visits Week 2 .. Week 24 (AVISITN 2..24),
#           group = TRTP (Placebo, Xanomeline Low Dose, Xanomeline High Dose), covariate BASE.
#   seed    fixtures/seed_trial/{adlb,adsl}.csv (SYNTHETIC built-in trial), PARAMCD "ALB": BASE = AVAL of the
#           ABLFL == "Y" record, y = CHG = AVAL - BASE on the post-baseline visits, group = ADSL TRT01A ordered
#           by TRT01AN (Low dose, Medium dose, High dose), covariate BASE. All 7 post-baseline visits for cs and
#           ar1; us on all 7 visits too when it converges, else on the subset named in the fit's notes.
#   Records with a missing y or covariate are dropped (counted in n_dropped).
#
# Factors: group levels in the order above (first = reference), visit levels in time order, character
# covariates in sorted order (trialkit's rule: RACE reference "Asian", SEX reference "F"); treatment contrasts.
# vis = the visit's position 1..k in time order (not AVISITN: the pilot's AVISITN are 2, 4, ..., 24).
#
# Calls (REML throughout, nlme::gls, data sorted by USUBJID then vis):
#   us   gls(y ~ <covariates> + ARM * AVISIT, correlation = corSymm(form = ~ vis | USUBJID),
#            weights = varIdent(form = ~ 1 | AVISIT), method = "REML")
#   cs   gls(..., correlation = corCompSymm(form = ~ vis | USUBJID), method = "REML")
#   ar1  gls(..., correlation = corAR1(form = ~ vis | USUBJID), method = "REML")
#   (control = glsControl(maxIter = 200, msMaxIter = 500, tolerance = 1e-12, msTol = 1e-14, opt = "optim"):
#   tighter than the defaults, so that the score of -2 l at the estimate is 2e-4 or less (recorded as
#   satterthwaite$score_at_theta); when optim stops with an error, as for ar1 on fev_data and the pilot, the
#   fit is redone with nlminb, the default optimiser, at the same tolerances: control_used)
# Numbers recorded per fit:
#   coefficients    coef(fit), sqrt(diag(vcov(fit)))     (treatment contrasts, names as R prints them)
#   loglik_reml     logLik(fit) (REML; equals -1/2 of SAS's "-2 Res Log Likelihood": checked on fev_data)
#   covariance      getVarCov(fit, individual = <first subject observed at every visit>), all k x k cells
#   lsmeans_*       emmeans(fit, ~ ARM | AVISIT, mode = m) for m = "satterthwaite" and "df.error"; CIs from
#                   summary(..., infer = TRUE), level 0.95. NOTE: emmeans has no analytical Satterthwaite for
#                   gls and says so: mode "satterthwaite" gives its "appx-satterthwaite" (numerical, via
#                   fit$apVar); those df are approximate (they differ from SAS's printed df by 1 or 2 on
#                   fev_data and change from run to run), and for us on the pilot and the seed trial emmeans
#                   falls back to df.error; kept only as emmeans prints them (emmeans_df_method_*). emmeans'
#                   first call on a fit sometimes fails ("Can't estimate Satterthwaite parameters"): retried.
#                   Covariates: numeric ones at their
#                   mean over the analysed RECORDS (emmeans' reference grid; recorded as emmeans_at), factor
#                   ones averaged with equal weights.
#   contrasts_*     contrast(emm, method = "trt.vs.ctrl", ref = 1, adjust = "none"), confint(...) (by visit)
#   anova_marginal  anova(fit_sum, type = "marginal") where fit_sum is the same model refitted under
#                   options(contrasts = c("contr.sum", "contr.poly")) (SAS type 3); den_df = N - p.
#   joint_tests_*   emmeans::joint_tests(fit, mode = m) (factor terms only).
#   satterthwaite   computed here, independently of nlme's apVar: the REML criterion -2 l(theta) for the
#                   fitted covariance model written out in base R (theta = the covariance matrix's free
#                   elements: us all k(k+1)/2 cells, cs (sigma2, rho), ar1 (sigma2, rho)); beta and its
#                   covariance Phi = (X' V^-1 X)^-1 at the gls estimate; W = 2 * H^-1 with H the Hessian of
#                   -2 l at theta_hat; for a row L, df = 2 (L Phi L')^2 / (g' W g) with g = d(L Phi L')/d theta
#                   (the Satterthwaite df of SAS PROC MIXED DDFM=SATTERTHWAITE and of R's mmrm, invariant to
#                   the parameterisation of theta at the REML optimum). Derivatives by central differences with
#                   one Richardson step (steps 1e-3 and 5e-4 times max(|theta_j|, 1e-2)); 4-fold larger steps
#                   move the df by less than 1e-7 relative (checked on fev_us). Multi-row L: SAS's method, F = b'(L Phi
#                   L')^-1 b / q, eigen-decomposition L Phi L' = P D P', nu_m of the rows of P'L,
#                   E = sum nu_m / (nu_m - 2) (over nu_m > 2), den_df = 2 E / (E - q) (q when E <= q).
#                   lsmeans/contrasts rows use the emmeans linear functions (emm@linfct) with these df.
#                   satterthwaite$tests: L in SAS's basis (sas_basis(): level minus reference level of the LS
#                   means, interaction (i,j) rows mu_ij - mu_i1 - mu_1j + mu_11, a numeric covariate's coefficient);
#                   satterthwaite$tests_contr_sum_basis: L = the term's columns of the contr.sum fit. F is the same;
#                   den_df of a multi-row term depends on the basis (Fai-Cornelius is not basis-invariant).
suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
})
source("tests/reference/json.R")
OUT <- "tests/reference/mmrm_r.json"
PILOT <- "/work/shared/data/cdiscpilot01/adlbhy.xpt"
CONTROL <- glsControl(maxIter = 200, msMaxIter = 500, tolerance = 1e-12, msTol = 1e-14, opt = "optim")
CONTROL_NLMINB <- glsControl(maxIter = 200, msMaxIter = 500, tolerance = 1e-12, msTol = 1e-14)

# ---- data -------------------------------------------------------------------------------------------------
model_frame <- function(d, groups, visits, covariates) {
  d$ARM <- factor(d$ARM, levels = groups)
  d$AVISIT <- factor(d$AVISIT, levels = visits)
  d$vis <- as.integer(d$AVISIT)
  for (v in covariates) if (is.character(d[[v]])) d[[v]] <- factor(d[[v]], levels = sort(unique(d[[v]])))
  keep <- c("USUBJID", "ARM", "AVISIT", "vis", "y", covariates)
  d <- d[, keep]
  complete <- stats::complete.cases(d)
  dropped <- vapply(c("y", covariates), function(v) sum(is.na(d[[v]])), 0)
  d <- d[complete, ]
  d <- d[order(d$USUBJID, d$vis), ]
  d$USUBJID <- factor(d$USUBJID)
  list(data = d, n_dropped = sum(!complete), dropped_by_column = as.list(dropped))
}

fev_data <- function(with_base) {
  adlb <- read.csv("fixtures/fev_data/adlb.csv", stringsAsFactors = FALSE)
  adsl <- read.csv("fixtures/fev_data/adsl.csv", stringsAsFactors = FALSE)
  d <- merge(adlb, adsl[, c("USUBJID", "TRT01P", "RACE", "SEX")], by = "USUBJID")
  d$ARM <- d$TRT01P
  d$y <- d$AVAL
  covariates <- if (with_base) c("BASE", "RACE", "SEX") else c("RACE", "SEX")
  mf <- model_frame(d, c("PBO", "TRT"), paste0("VIS", 1:4), covariates)
  c(mf, list(
    id = if (with_base) "fev_base" else "fev", covariates = covariates, groups = c("PBO", "TRT"),
    visits = paste0("VIS", 1:4),
    description = paste("fixtures/fev_data: y = AVAL (FEV1), group = TRT01P, visits VIS1..VIS4, covariates",
                        paste(covariates, collapse = ", "), "(RACE, SEX from ADSL; BASE = FEV1_BL)")))
}

pilot_data <- function() {
  x <- foreign::read.xport(PILOT)
  x <- x[x$PARAMCD == "ALT", ]
  for (v in names(x)) if (is.character(x[[v]])) x[[v]] <- trimws(x[[v]])
  visits <- paste("Week", c(2, 4, 6, 8, 12, 16, 20, 24))
  x <- x[x$AVISIT %in% visits, ]
  stopifnot(!anyDuplicated(x[, c("USUBJID", "AVISIT")]))
  x$y <- x$AVAL - x$BASE
  x$ARM <- x$TRTP
  groups <- c("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose")
  mf <- model_frame(x, groups, visits, "BASE")
  c(mf, list(id = "pilot_alt", covariates = "BASE", groups = groups, visits = visits,
             description = paste("CDISC pilot ADLBHY PARAMCD ALT, records with AVISIT Week 2 .. Week 24;",
                                 "y = CHG = AVAL - BASE (ADLBHY's BASE), group = TRTP, covariate BASE")))
}

seed_data <- function(visits = NULL) {
  adlb <- read.csv("fixtures/seed_trial/adlb.csv", stringsAsFactors = FALSE)
  adsl <- read.csv("fixtures/seed_trial/adsl.csv", stringsAsFactors = FALSE)
  adlb <- adlb[adlb$PARAMCD == "ALB", ]
  base <- adlb[adlb$ABLFL %in% "Y", c("USUBJID", "AVAL", "AVISITN")]
  names(base) <- c("USUBJID", "BASE", "BASEVISN")
  d <- merge(adlb, base, by = "USUBJID", all.x = TRUE)
  d <- d[d$AVISITN > d$BASEVISN, ]
  d$y <- d$AVAL - d$BASE
  d <- merge(d, adsl[, c("USUBJID", "TRT01A", "TRT01AN")], by = "USUBJID")
  d$ARM <- d$TRT01A
  groups <- unique(adsl[order(adsl$TRT01AN), "TRT01A"])
  all_visits <- unique(d[order(d$AVISITN), "AVISIT"])
  if (is.null(visits)) visits <- all_visits
  d <- d[d$AVISIT %in% visits, ]
  mf <- model_frame(d, groups, visits, "BASE")
  c(mf, list(id = "seed_alb", covariates = "BASE", groups = groups, visits = visits,
             description = paste("fixtures/seed_trial (SYNTHETIC) ADLB PARAMCD ALB: BASE = AVAL of the ABLFL = Y",
                                 "record, y = CHG = AVAL - BASE on post-baseline visits",
                                 paste(visits, collapse = ", "),
                                 "; group = ADSL TRT01A by TRT01AN; covariate BASE")))
}

# ---- fits -------------------------------------------------------------------------------------------------
formula_of <- function(covariates) {
  as.formula(paste("y ~", paste(c(covariates, "ARM * AVISIT"), collapse = " + ")))
}

call_text <- function(cov, covariates) {
  f <- paste("y ~", paste(c(covariates, "ARM * AVISIT"), collapse = " + "))
  switch(cov,
    us = paste0("gls(", f, ", correlation = corSymm(form = ~ vis | USUBJID), ",
                "weights = varIdent(form = ~ 1 | AVISIT), method = \"REML\")"),
    cs = paste0("gls(", f, ", correlation = corCompSymm(form = ~ vis | USUBJID), method = \"REML\")"),
    ar1 = paste0("gls(", f, ", correlation = corAR1(form = ~ vis | USUBJID), method = \"REML\")"))
}

fit_gls <- function(d, cov, covariates) {
  # The call is built unevaluated (data = d in the global environment) so that update() and emmeans'
  # refits see the same call as a hand-typed one.
  assign("d", d, envir = globalenv())
  corr <- switch(cov,
    us = quote(corSymm(form = ~ vis | USUBJID)), cs = quote(corCompSymm(form = ~ vis | USUBJID)),
    ar1 = quote(corAR1(form = ~ vis | USUBJID)))
  call <- if (cov == "us") {
    bquote(gls(.(formula_of(covariates)), data = d, correlation = .(corr), weights = varIdent(form = ~ 1 | AVISIT),
               method = "REML", control = CONTROL))
  } else {
    bquote(gls(.(formula_of(covariates)), data = d, correlation = .(corr), method = "REML", control = CONTROL))
  }
  fit <- tryCatch(eval(call, globalenv()), error = function(e) e)
  if (inherits(fit, "error")) {  # optim can stop on a singular step (ar1): nlminb with tight tolerances then
    call$control <- quote(CONTROL_NLMINB)
    fit <- eval(call, globalenv())
  }
  fit
}

# ---- Satterthwaite, written out -------------------------------------------------------------------------
sigma_of <- function(theta, cov, k) {
  if (cov == "us") {
    s <- matrix(0, k, k)
    s[lower.tri(s, diag = TRUE)] <- theta
    s[upper.tri(s)] <- t(s)[upper.tri(s)]
    return(s)
  }
  lag <- abs(outer(seq_len(k), seq_len(k), "-"))
  if (cov == "cs") return(theta[1] * ifelse(lag == 0, 1, theta[2]))
  theta[1] * theta[2]^lag
}

theta_of <- function(sig, cov) {
  if (cov == "us") return(sig[lower.tri(sig, diag = TRUE)])
  k <- nrow(sig)
  if (cov == "cs") return(c(sig[1, 1], if (k > 1) sig[2, 1] / sig[1, 1] else 0))
  c(sig[1, 1], sig[2, 1] / sig[1, 1])
}

# Records grouped by missingness pattern (subjects with the same observed visits), rows subject-major, so
# that matrix(X, nrow = m) puts one subject-column per visit-row and one triangular solve whitens them all.
patterns <- function(d, X) {
  key <- tapply(d$vis, d$USUBJID, function(v) paste(v, collapse = ","))
  rec_key <- key[as.character(d$USUBJID)]
  lapply(split(seq_len(nrow(d)), rec_key), function(rows) {
    list(vis = d$vis[rows[seq_len(sum(d$USUBJID[rows] == d$USUBJID[rows[1]]))]], X = X[rows, , drop = FALSE],
         y = d$y[rows])
  })
}

whiten <- function(ch, M, m) {
  matrix(backsolve(ch, matrix(M, nrow = m), transpose = TRUE), nrow = length(M) / NCOL(M))
}

reml_pieces <- function(theta, cov, k, pats, p) {
  sig <- sigma_of(theta, cov, k)
  xtvx <- matrix(0, p, p); xtvy <- numeric(p); logdet <- 0; n <- 0
  white <- lapply(pats, function(pt) {
    m <- length(pt$vis)
    ch <- chol(sig[pt$vis, pt$vis, drop = FALSE])
    list(ch = ch, m = m, Xw = whiten(ch, pt$X, m), yw = whiten(ch, pt$y, m),
         logdet = (length(pt$y) / m) * 2 * sum(log(diag(ch))))
  })
  for (w in white) {
    xtvx <- xtvx + crossprod(w$Xw)
    xtvy <- xtvy + drop(crossprod(w$Xw, w$yw))
    logdet <- logdet + w$logdet
    n <- n + length(w$yw)
  }
  phi <- chol2inv(chol(xtvx))
  beta <- drop(phi %*% xtvy)
  rss <- sum(vapply(white, function(w) sum((w$yw - drop(w$Xw %*% beta))^2), 0))
  m2l <- (n - p) * log(2 * pi) + logdet + as.numeric(determinant(xtvx)$modulus) + rss
  list(m2l = m2l, phi = phi, beta = beta)
}

central <- function(f, theta, j, h) {
  e <- replace(numeric(length(theta)), j, h)
  (f(theta + e) - f(theta - e)) / (2 * h)
}

richardson_grad <- function(f, theta) {
  vapply(seq_along(theta), function(j) {
    h <- 1e-3 * max(abs(theta[j]), 1e-2)
    (4 * central(f, theta, j, h / 2) - central(f, theta, j, h)) / 3
  }, 0)
}

richardson_hessian <- function(f, theta) {
  q <- length(theta)
  H <- matrix(0, q, q)
  for (a in seq_len(q)) for (b in a:q) {
    second <- function(s) {
      ha <- s * max(abs(theta[a]), 1e-2); hb <- s * max(abs(theta[b]), 1e-2)
      ea <- replace(numeric(q), a, ha); eb <- replace(numeric(q), b, hb)
      (f(theta + ea + eb) - f(theta + ea - eb) - f(theta - ea + eb) + f(theta - ea - eb)) / (4 * ha * hb)
    }
    H[a, b] <- H[b, a] <- (4 * second(5e-4) - second(1e-3)) / 3
  }
  H
}

satterthwaite_setup <- function(fit, d, cov, sig_hat, W = NULL, X = model.matrix(formula(fit), d)) {
  k <- nlevels(d$AVISIT)
  pats <- patterns(d, X)
  theta <- theta_of(sig_hat, cov)
  at <- reml_pieces(theta, cov, k, pats, ncol(X))
  m2l <- function(th) reml_pieces(th, cov, k, pats, ncol(X))$m2l
  score <- NULL
  if (is.null(W)) {  # -2 l's Hessian in theta is the same for any basis of X's columns
    W <- 2 * solve(richardson_hessian(m2l, theta))
    score <- richardson_grad(m2l, theta)
  }
  list(X = X, k = k, pats = pats, theta = theta, cov = cov, phi = at$phi, beta = at$beta, m2l = at$m2l,
       W = W, p = ncol(X), score = score)
}

sat_df_1 <- function(st, l) {
  v <- function(th) drop(l %*% reml_pieces(th, st$cov, st$k, st$pats, st$p)$phi %*% l)
  g <- richardson_grad(v, st$theta)
  2 * drop(l %*% st$phi %*% l)^2 / drop(t(g) %*% st$W %*% g)
}

sat_test <- function(st, L) {
  M <- L %*% st$phi %*% t(L)
  b <- L %*% st$beta
  q <- nrow(L)
  f <- drop(t(b) %*% solve(M, b)) / q
  e <- eigen(M, symmetric = TRUE)
  nu <- vapply(seq_len(q), function(m) sat_df_1(st, drop(t(e$vectors[, m]) %*% L)), 0)
  E <- sum(nu[nu > 2] / (nu[nu > 2] - 2))
  den <- if (q == 1) nu[1] else if (E > q) 2 * E / (E - q) else q
  c(num_df = q, den_df = den, f = f, p = pf(f, q, den, lower.tail = FALSE))
}

# Type 3 hypotheses in SAS's basis: each row a level minus the reference level (the first level here; SAS's
# ref= level), of the LS means averaged over the other factors; interaction rows (i, j) = mu_ij - mu_i1 - mu_1j
# + mu_11; a numeric covariate's row picks its coefficient. F does not depend on the basis; the multi-row
# Satterthwaite den_df does, and this is the basis of SAS's listings (and of R mmrm's type III contrasts).
sas_basis <- function(fit, covariates) {
  rg <- ref_grid(fit, mode = "df.error")
  vs_first <- function(L) L[-1, , drop = FALSE] - matrix(L[1, ], nrow(L) - 1, ncol(L), byrow = TRUE)
  main <- function(spec) vs_first(suppressMessages(emmeans(rg, spec))@linfct)
  out <- list(group = main(~ARM), visit = main(~AVISIT))
  e <- suppressMessages(emmeans(rg, ~ ARM * AVISIT))
  g <- as.integer(e@grid$ARM); v <- as.integer(e@grid$AVISIT); L <- e@linfct
  at <- function(i, j) L[g == i & v == j, ]
  rows <- list()
  for (j in 2:max(v)) for (i in 2:max(g)) rows[[length(rows) + 1]] <- at(i, j) - at(i, 1) - at(1, j) + at(1, 1)
  out[["group:visit"]] <- do.call(rbind, rows)
  for (cv in covariates) {
    out[[cv]] <- if (is.numeric(rg@grid[[cv]])) {
      matrix(as.numeric(colnames(L) == cv), nrow = 1)
    } else {
      main(as.formula(paste("~", cv)))
    }
  }
  out
}

# ---- one fit -> a JSON object -----------------------------------------------------------------------------
rows_of <- function(df) lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))

emm_frames <- function(fit, mode, st) {
  # emmeans' appx-satterthwaite on a gls fit fails now and then on the first call in a session ("Can't
  # estimate Satterthwaite parameters") and succeeds when called again on the same fit: up to 3 tries.
  for (try in 1:3) {
    emm <- tryCatch(emmeans(fit, ~ ARM | AVISIT, mode = mode), error = function(e) e)
    if (!inherits(emm, "error")) break
  }
  if (inherits(emm, "error")) stop(emm)
  s <- as.data.frame(summary(emm, infer = c(TRUE, FALSE), level = 0.95))
  ls <- data.frame(visit = as.character(s$AVISIT), group = as.character(s$ARM), estimate = s$emmean, se = s$SE,
                   df = s$df, lower = s$lower.CL, upper = s$upper.CL, stringsAsFactors = FALSE)
  con <- contrast(emm, method = "trt.vs.ctrl", ref = 1, adjust = "none")
  cs <- as.data.frame(summary(con, infer = c(TRUE, TRUE), level = 0.95, adjust = "none"))
  grp <- sub(" - .*$", "", as.character(cs$contrast))
  ref <- sub("^.* - ", "", as.character(cs$contrast))
  ct <- data.frame(visit = as.character(cs$AVISIT), group = grp, reference = ref, estimate = cs$estimate,
                   se = cs$SE, df = cs$df, t = cs$t.ratio, p = cs$p.value, lower = cs$lower.CL,
                   upper = cs$upper.CL, stringsAsFactors = FALSE)
  method <- emm@misc$mode
  if (is.null(method)) method <- mode
  out <- list(lsmeans = ls, contrasts = ct, method = paste(attr(emm@dffun, "mesg"), collapse = "; "),
              linfct_ls = emm@linfct, linfct_con = con@linfct)
  out
}

sat_frames <- function(st, e) {
  b <- st$beta; phi <- st$phi
  one <- function(L) {
    est <- drop(L %*% b); se <- sqrt(drop(L %*% phi %*% L)); df <- sat_df_1(st, L)
    c(est, se, df)
  }
  lsv <- t(apply(e$linfct_ls, 1, one))
  ls <- e$lsmeans
  ls$estimate <- lsv[, 1]; ls$se <- lsv[, 2]; ls$df <- lsv[, 3]
  tq <- qt(0.975, ls$df); ls$lower <- ls$estimate - tq * ls$se; ls$upper <- ls$estimate + tq * ls$se
  cv <- t(apply(e$linfct_con, 1, one))
  ct <- e$contrasts
  ct$estimate <- cv[, 1]; ct$se <- cv[, 2]; ct$df <- cv[, 3]; ct$t <- ct$estimate / ct$se
  ct$p <- 2 * pt(-abs(ct$t), ct$df)
  tq <- qt(0.975, ct$df); ct$lower <- ct$estimate - tq * ct$se; ct$upper <- ct$estimate + tq * ct$se
  list(lsmeans = ls, contrasts = ct)
}

term_name <- function(t) {
  known <- c(ARM = "group", AVISIT = "visit", "ARM:AVISIT" = "group:visit")
  if (t %in% names(known)) unname(known[[t]]) else t
}

one_fit <- function(prep, cov) {
  d <- prep$data
  t0 <- proc.time()[["elapsed"]]
  fit <- tryCatch(fit_gls(d, cov, prep$covariates), error = function(e) e)
  if (inherits(fit, "error")) {
    return(list(id = paste(prep$id, cov, sep = "_"), data = prep$id, cov = cov, converged = FALSE,
                error = gsub("\\s+", " ", conditionMessage(fit)), call = call_text(cov, prep$covariates)))
  }
  elapsed <- proc.time()[["elapsed"]] - t0
  k <- nlevels(d$AVISIT)
  full <- names(which(table(d$USUBJID) == k))[1]
  vc <- unclass(getVarCov(fit, individual = full))
  vc <- matrix(as.numeric(vc), k, k)
  vis <- levels(d$AVISIT)
  covariance <- data.frame(row_visit = rep(vis, each = k), col_visit = rep(vis, times = k),
                           value = as.vector(t(vc)), stringsAsFactors = FALSE)
  co <- coef(fit); se <- sqrt(diag(vcov(fit)))
  coefs <- data.frame(name = names(co), estimate = unname(co), se = unname(se), stringsAsFactors = FALSE)

  op <- options(contrasts = c("contr.sum", "contr.poly"))
  fit_sum <- update(fit)
  a <- anova(fit_sum, type = "marginal")
  X_sum <- model.matrix(formula(fit_sum), d)
  options(op)
  a <- a[rownames(a) != "(Intercept)", ]
  anova_m <- data.frame(term = vapply(rownames(a), term_name, ""), num_df = a$numDF,
                        den_df = nrow(d) - length(coef(fit)), f = a$`F-value`, p = a$`p-value`,
                        stringsAsFactors = FALSE)

  grid <- ref_grid(fit, mode = "df.error")@grid
  at <- lapply(intersect(prep$covariates, names(grid)), function(v) if (is.numeric(grid[[v]])) grid[[v]][1] else NULL)
  names(at) <- intersect(prep$covariates, names(grid))
  at <- at[!vapply(at, is.null, NA)]

  res <- list(
    id = paste(prep$id, cov, sep = "_"), data = prep$id, cov = cov, ddfm_note = "see lsmeans_* / satterthwaite",
    call = call_text(cov, prep$covariates),
    control_used = if (identical(fit$call$control, quote(CONTROL_NLMINB))) "nlminb" else "optim",
    groups = prep$groups, visits = prep$visits,
    covariates = prep$covariates, response = "y", converged = TRUE,
    n_subjects = nlevels(d$USUBJID), n_records = nrow(d), n_dropped = prep$n_dropped,
    dropped_by_column = prep$dropped_by_column, fit_seconds = elapsed,
    loglik_reml = as.numeric(logLik(fit)), sigma = fit$sigma,
    coefficients = rows_of(coefs), covariance = rows_of(covariance),
    covariance_from_subject = full, emmeans_at = at, anova_marginal = rows_of(anova_m))
  for (mode in c("satterthwaite", "df.error")) {
    key <- gsub("[.]", "_", mode)
    e <- tryCatch(emm_frames(fit, mode), error = function(err) err)
    if (inherits(e, "error")) {
      res[[paste0("emmeans_error_", key)]] <- gsub("\\s+", " ", conditionMessage(e))
      e <- emm_frames(fit, "df.error")  # for its linear functions only
      e_sat <- e
      next
    }
    res[[paste0("lsmeans_emmeans_", key)]] <- rows_of(e$lsmeans)
    res[[paste0("contrasts_emmeans_", key)]] <- rows_of(e$contrasts)
    res[[paste0("emmeans_df_method_", key)]] <- e$method
    for (try in 1:3) {
      jt <- tryCatch(as.data.frame(joint_tests(fit, mode = mode)), error = function(err) err)
      if (!inherits(jt, "error")) break
    }
    if (inherits(jt, "error")) {
      res[[paste0("joint_tests_error_", key)]] <- gsub("\\s+", " ", conditionMessage(jt))
    } else {
      res[[paste0("joint_tests_emmeans_", key)]] <- rows_of(data.frame(
        term = vapply(as.character(jt$`model term`), term_name, ""), num_df = jt$df1, den_df = jt$df2,
        f = jt$F.ratio, p = jt$p.value, stringsAsFactors = FALSE))
    }
    if (mode == "satterthwaite") e_sat <- e
  }
  st <- satterthwaite_setup(fit, d, cov, vc)
  sf <- sat_frames(st, e_sat)
  terms <- attr(X_sum, "assign"); labels <- attr(terms(formula(fit_sum)), "term.labels")
  # type 3 tests: the contr.sum parameterisation (same fit, other columns)
  st_sum <- satterthwaite_setup(fit_sum, d, cov, vc, W = st$W, X = X_sum)
  tests <- do.call(rbind, lapply(seq_along(labels), function(t) {
    L <- diag(ncol(X_sum))[terms == t, , drop = FALSE]
    r <- sat_test(st_sum, L)
    data.frame(term = unname(term_name(labels[t])), num_df = r[["num_df"]], den_df = r[["den_df"]], f = r[["f"]],
               p = r[["p"]], stringsAsFactors = FALSE)
  }))
  basis <- sas_basis(fit, prep$covariates)
  tests_sas <- do.call(rbind, lapply(names(basis), function(t) {
    r <- sat_test(st, basis[[t]])
    data.frame(term = t, num_df = r[["num_df"]], den_df = r[["den_df"]], f = r[["f"]], p = r[["p"]],
               stringsAsFactors = FALSE)
  }))
  res$satterthwaite <- list(
    method = "written out here (see header): SAS DDFM=SATTERTHWAITE / mmrm's Satterthwaite",
    theta = st$theta, neg2_reml_loglik = st$m2l, score_at_theta = st$score,
    max_rel_diff_beta_vs_gls = max(abs(st$beta - coef(fit)) / pmax(abs(coef(fit)), 1e-8)),
    max_rel_diff_vcov_vs_gls = max(abs(st$phi - vcov(fit))) / max(abs(vcov(fit))),
    lsmeans = rows_of(sf$lsmeans), contrasts = rows_of(sf$contrasts), tests = rows_of(tests_sas),
    tests_contr_sum_basis = rows_of(tests))
  res
}

# ---- main -------------------------------------------------------------------------------------------------
preps <- list(fev_data(FALSE), fev_data(TRUE))
if (file.exists(PILOT)) preps[[length(preps) + 1]] <- pilot_data() else message("pilot data absent: skipped")
seed <- seed_data()
fits <- list()
for (prep in preps) for (cov in c("us", "cs", "ar1")) {
  message(prep$id, " ", cov)
  fits[[length(fits) + 1]] <- one_fit(prep, cov)
}
for (cov in c("cs", "ar1", "us")) {
  message(seed$id, " ", cov)
  r <- one_fit(seed, cov)
  if (cov == "us" && !isTRUE(r$converged)) {
    SEED_US_VISITS <- c("Day 29", "Week 8", "Week 12", "Week 24")
    sub <- seed_data(SEED_US_VISITS)
    sub$id <- "seed_alb_4visits"
    r2 <- one_fit(sub, cov)
    r2$notes <- paste("us on all", length(seed$visits), "post-baseline visits failed in gls (", r$error,
                      "); refitted on the visits", paste(SEED_US_VISITS, collapse = ", "))
    fits[[length(fits) + 1]] <- r
    r <- r2
  }
  fits[[length(fits) + 1]] <- r
}
out <- list(
  about = paste("nlme::gls REML fits + emmeans; made by tests/reference/make_mmrm_reference.R (its header",
                "gives every call). R", R.version$major, R.version$minor, "nlme", as.character(packageVersion("nlme")),
                "emmeans", as.character(packageVersion("emmeans"))),
  use = paste("Estimates, SEs, loglik_reml, covariance, coefficients, anova_marginal F and the *_df_error rows are",
              "exact for the fitted gls model (compare at rel = 1e-6; the score of -2 l at the gls estimate is 2e-4",
              "or less, satterthwaite$score_at_theta: an engine converging further may differ in the 7th digit).",
              "satterthwaite$* are the exact Satterthwaite",
              "df (SAS DDFM=SATTERTHWAITE: for fit fev_us, all 5 type 3 den_df, all 4 contrasts' df and 7 of 8",
              "LS means' df round to the df printed in mmrm's design/SAS/sas_log_reml.txt; VIS2 TRT gives 143.49,",
              "SAS 144) and are the ones to test against. lsmeans_emmeans_satterthwaite /",
              "joint_tests_emmeans_satterthwaite are emmeans' own df (emmeans_df_method_satterthwaite says which:",
              "appx-satterthwaite for us, and df.error when emmeans gave up); they change from run to run by up",
              "to ~2 df and must not be used as references."),
  fits = fits)
writeLines(to_json(out), OUT)
cat("wrote", OUT, length(fits), "fits\n")
