# Reference values for trialkit's power of the comparison made (analyses/power.py) and the
# monotone trend over visits (analyses/trend.py), from base R, survival and nlme.
#
# Run from the repository root (R >= 4.2 with survival and nlme; no jsonlite needed):
#   Rscript tests/reference/make_power_reference.R
# Writes, beside this script, power_r.json and power_splitplot.csv. The R calls:
#
#   schoenfeld   two groups, proportions p and 1 - p, D events, hazard ratio hr (Schoenfeld 1983,
#                Biometrika 70:315-318):
#                  power  = pnorm(sqrt(D * p * (1 - p)) * abs(log(hr)) - qnorm(1 - alpha / 2))
#                  events = (qnorm(1 - alpha / 2) + qnorm(power))^2 / (p * (1 - p) * log(hr)^2)
#                (hand check: hr 0.5, power 0.8, alpha 0.05, 1:1 needs 65.35 events, the "66 events"
#                of the textbooks)
#   kgroup       k groups, proportions p_g, log hazards linear in group order with hr between the
#                last and first: theta = log(hr) * (0:(k-1)) / (k-1), centred with weights p_g;
#                ncp = D * sum(p * theta^2);
#                power = pchisq(qchisq(1 - alpha, k - 1), k - 1, ncp = ncp, lower.tail = FALSE)
#   simulation   a trial (its groups, times, events below) simulated `sims` times as trialkit does:
#                exponential event times with rate events / sum(time) * exp(theta_g), censoring
#                times sample(censoring times, n, replace = TRUE), the log-rank test
#                survdiff(Surv(time, event) ~ group)$chisq > qchisq(1 - alpha, k - 1). trialkit's
#                own simulation (other random numbers) must agree within Monte-Carlo error.
#   spearman     cor.test(seq_along(y), y, method = "spearman", alternative = "less" / "greater",
#                exact = TRUE for n <= 9 without ties, exact = FALSE above): estimate and p.value
#   interaction  the split-plot interaction test of a group x visit design (groups n_g, m visits,
#                residual SD sigma), an interaction of size `effect` (last vs first group at the
#                last visit, growing linearly in visit order): mu_gj = effect * s_g * t_j with
#                s = seq(-1/2, 1/2, length = k), t = (0:(m-1)) / (m-1);
#                ncp = effect^2 * sum(n_g (s_g - s_bar)^2) * sum((t_j - t_bar)^2) / sigma^2
#                (s_bar weighted by n_g); power = pf(qf(1 - alpha, df1, df2), df1, df2, ncp,
#                lower.tail = FALSE), df1 = (k-1)(m-1), df2 = (N-k)(m-1); excluded =
#                pf(f_obs, df1, df2, ncp) (P(F <= F observed) under that interaction).
#   splitplot    one data set (power_splitplot.csv: subject, group, visit, y; set.seed(14)):
#                the group:visit F of anova(nlme::lme(y ~ group * visit, random = ~ 1 | subject))
#                and of summary(aov(y ~ group * visit + Error(subject))) (equal on complete data).
#   power_sim    the same design simulated with set.seed(2) as the formula assumes (normal
#                subject effects SD tau and residuals SD sigma), `sims` aov F tests: the rejection
#                rate; trialkit's simulation must agree within Monte-Carlo error.

suppressPackageStartupMessages({library(survival); library(nlme)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
source(file.path(here, "json.R"))

schoenfeld <- list()
for (d in c(3, 20, 65, 100)) for (hr in c(0.5, 0.7, 1.5)) for (alpha in c(0.05, 0.01)) for (p in c(0.5, 1/3)) {
  schoenfeld[[length(schoenfeld) + 1]] <- list(
    events = d, hr = hr, alpha = alpha, p = p,
    power = pnorm(sqrt(d * p * (1 - p)) * abs(log(hr)) - qnorm(1 - alpha / 2)))
}
events_needed <- list()
for (hr in c(0.5, 0.7)) for (pw in c(0.8, 0.9)) for (p in c(0.5, 1/3)) {
  events_needed[[length(events_needed) + 1]] <- list(
    hr = hr, power = pw, alpha = 0.05, p = p,
    events = (qnorm(1 - 0.05 / 2) + qnorm(pw))^2 / (p * (1 - p) * log(hr)^2))
}

kgroup <- list()
for (props in list(c(1, 1, 1) / 3, c(0.25, 0.25, 0.5), c(0.2, 0.3, 0.3, 0.2))) {
  for (d in c(3, 30, 120)) for (hr in c(0.5, 2)) {
    k <- length(props)
    theta <- log(hr) * (0:(k - 1)) / (k - 1)
    theta <- theta - sum(props * theta)
    ncp <- d * sum(props * theta^2)
    kgroup[[length(kgroup) + 1]] <- list(
      proportions = as.list(props), events = d, hr = hr, alpha = 0.05, ncp = ncp,
      power = pchisq(qchisq(0.95, k - 1), k - 1, ncp = ncp, lower.tail = FALSE))
  }
}

# a trial of 3 groups of 30: follow-up 2 years, administrative censoring from 600 to 730 days,
# 12, 9 and 6 deaths
trial_group <- rep(0:2, each = 30)
trial_time <- c(seq(60, 600, length.out = 12), seq(600, 730, length.out = 18),
                seq(90, 650, length.out = 9), seq(600, 730, length.out = 21),
                seq(120, 700, length.out = 6), seq(600, 730, length.out = 24))
trial_event <- c(rep(1, 12), rep(0, 18), rep(1, 9), rep(0, 21), rep(1, 6), rep(0, 24))
simulate_logrank <- function(hr, sims, alpha = 0.05) {
  k <- 3; n <- length(trial_group)
  props <- tabulate(trial_group + 1, k) / n
  theta <- log(hr) * (0:(k - 1)) / (k - 1); theta <- theta - sum(props * theta)
  rate <- sum(trial_event) / sum(trial_time) * exp(theta)[trial_group + 1]
  cens <- trial_time[trial_event == 0]
  set.seed(1)
  hits <- 0
  for (s in seq_len(sims)) {
    te <- rexp(n) / rate
    tc <- sample(cens, n, replace = TRUE)
    t <- pmin(te, tc); e <- as.numeric(te <= tc)
    hits <- hits + (survdiff(Surv(t, e) ~ factor(trial_group))$chisq > qchisq(1 - alpha, k - 1))
  }
  hits / sims
}
simulation <- list(group = trial_group, time = trial_time, event = trial_event, hr = 0.4, alpha = 0.05,
                   sims = 2000, power = simulate_logrank(0.4, 2000))

spearman <- list()
ys <- list(c(-1.2, -3.5, -2.9, -6.1, -8.0), c(-7.67, -11.69, -22.48, -25, -30, -28, -35),
           c(3, 1, 4, 1.5, 5, 9, 2, 6, 5.5), c(2, 1, 3), c(5, 4, 6, 3, 2, 1, 0.5, -1, -2, -1.5, -4, -3))
for (y in ys) for (alt in c("less", "greater")) {
  exact <- length(y) <= 9
  r <- suppressWarnings(cor.test(seq_along(y), y, method = "spearman", alternative = alt, exact = exact))
  spearman[[length(spearman) + 1]] <- list(y = y, alternative = alt, exact = exact,
                                           rho = unname(r$estimate), p = r$p.value)
}

interaction <- list()
for (design in list(list(n = c(8, 8, 8), m = 7, sigma = 1.64), list(n = c(6, 8, 10), m = 5, sigma = 2),
                    list(n = c(12, 12), m = 4, sigma = 4.06))) {
  for (effect in c(0, 2, 4, 10)) {
    n <- design$n; m <- design$m; k <- length(n)
    s <- seq(-1/2, 1/2, length.out = k); s <- s - sum(n * s) / sum(n)
    t <- (0:(m - 1)) / (m - 1)
    ncp <- effect^2 * sum(n * s^2) * sum((t - mean(t))^2) / design$sigma^2
    df1 <- (k - 1) * (m - 1); df2 <- (sum(n) - k) * (m - 1)
    interaction[[length(interaction) + 1]] <- list(
      n = as.list(n), visits = m, sigma = design$sigma, effect = effect, alpha = 0.05, ncp = ncp,
      power = pf(qf(0.95, df1, df2), df1, df2, ncp = ncp, lower.tail = FALSE),
      f_obs = 0.6, excluded = pf(0.6, df1, df2, ncp = ncp))
  }
}

set.seed(14)
n <- c(6, 8, 10); m <- 5; k <- 3
subject <- rep(seq_len(sum(n)), each = m)
group <- rep(rep(0:(k - 1), n), each = m)
visit <- rep(seq_len(m), times = sum(n))
y <- 0.8 * group * visit + rep(rnorm(sum(n), sd = 3), each = m) + rnorm(sum(n) * m, sd = 2)
long <- data.frame(subject = subject, group = group, visit = visit, y = y)
write.csv(long, file.path(here, "power_splitplot.csv"), row.names = FALSE)
long$g <- factor(long$group); long$v <- factor(long$visit); long$s <- factor(long$subject)
lme_f <- anova(lme(y ~ g * v, random = ~ 1 | s, data = long))["g:v", "F-value"]
aov_tab <- summary(aov(y ~ g * v + Error(s), data = long))[["Error: Within"]][[1]]
aov_f <- aov_tab[grep("g:v", rownames(aov_tab)), "F value"]
splitplot <- list(lme_f = lme_f, aov_f = aov_f)

simulate_interaction <- function(n, m, effect, sigma, tau, sims) {
  k <- length(n)
  s <- seq(-1/2, 1/2, length.out = k); t <- (0:(m - 1)) / (m - 1)
  g <- factor(rep(rep(seq_len(k), n), each = m)); v <- factor(rep(seq_len(m), times = sum(n)))
  sj <- factor(rep(seq_len(sum(n)), each = m))
  mu <- effect * s[as.integer(g)] * t[as.integer(v)]
  crit <- qf(0.95, (k - 1) * (m - 1), (sum(n) - k) * (m - 1))
  set.seed(2)
  hits <- 0
  for (i in seq_len(sims)) {
    yy <- mu + rep(rnorm(sum(n), sd = tau), each = m) + rnorm(sum(n) * m, sd = sigma)
    tab <- summary(aov(yy ~ g * v + Error(sj)))[["Error: Within"]][[1]]
    hits <- hits + (tab[grep("g:v", rownames(tab)), "F value"] > crit)
  }
  hits / sims
}
power_sim <- list(n = c(8, 8, 8), visits = 7, effect = 4, sigma = 1.64, tau = 1, sims = 2000,
                  power = simulate_interaction(c(8, 8, 8), 7, 4, 1.64, 1, 2000))

out <- list(schoenfeld = schoenfeld, events_needed = events_needed, kgroup = kgroup, simulation = simulation,
            spearman = spearman, interaction = interaction, splitplot = splitplot, power_sim = power_sim)
writeLines(to_json(out), file.path(here, "power_r.json"))
