# Reference values for trialkit's Table 1 (analyses/report/table1.py) on the built-in seed trial.
# Base R only, independent of trialkit's code. Run from the repository root:
#   Rscript tests/reference/make_report_table1.R
# writes tests/reference/report_table1_seed.csv (label, row, group, value).
adsl <- read.csv("fixtures/seed_trial/adsl.csv", stringsAsFactors = FALSE, na.strings = "")
adlb <- read.csv("fixtures/seed_trial/adlb.csv", stringsAsFactors = FALSE, na.strings = "")
adsl <- adsl[order(adsl$TRT01AN), ]
arms <- unique(adsl$TRT01A)
cols <- c(arms, "Total")
subset_of <- function(arm) if (arm == "Total") adsl else adsl[adsl$TRT01A == arm, ]

# decimals the data carry (0, 1, or 2 for anything finer); summaries get one more, at most two
precision <- function(x) {
  x <- x[!is.na(x)]
  for (d in 0:1) if (all(abs(x * 10^d - round(x * 10^d)) < 1e-6)) return(d)
  2
}
# d places, half away from zero (SAS ROUND), with a small fuzz for binary error: 30.275 -> 30.28
fx <- function(x, d) sprintf("%.*f", d, sign(x) * floor(abs(x) * 10^d + 0.5 + 1e-7) / 10^d)
continuous <- function(x, p) {
  x <- x[!is.na(x)]
  d <- min(p + 1, 2)
  q <- quantile(x, c(0.5, 0.25, 0.75), type = 7, names = FALSE)
  c("n" = as.character(length(x)),
    "Mean (SD)" = sprintf("%s (%s)", fx(mean(x), d), fx(sd(x), d)),
    "Median" = fx(q[1], d),
    "Q1, Q3" = sprintf("%s, %s", fx(q[2], d), fx(q[3], d)),
    "Min, Max" = sprintf("%s, %s", fx(min(x), p), fx(max(x), p)))
}
categorical <- function(x, levels, n) {
  out <- sapply(levels, function(l) sprintf("%d (%s%%)", sum(x == l, na.rm = TRUE), fx(100 * sum(x == l, na.rm = TRUE) / n, 1)))
  if (any(is.na(x))) out["Missing"] <- sprintf("%d (%s%%)", sum(is.na(x)), fx(100 * sum(is.na(x)) / n, 1))
  out
}
rows <- list()
add <- function(variable, stats_by_arm) {
  for (arm in cols) {
    s <- stats_by_arm[[arm]]
    for (r in names(s)) rows[[length(rows) + 1]] <<- data.frame(label = variable, row = r, group = arm, value = s[[r]])
  }
}
add("Age (years)", setNames(lapply(cols, function(a) continuous(subset_of(a)$AGE, precision(adsl$AGE))), cols))
adsl$SEXL <- c(F = "Female", M = "Male")[adsl$SEX]
sexes <- sort(unique(na.omit(adsl$SEXL)))
add("Sex", setNames(lapply(cols, function(a) categorical(subset_of(a)$SEXL, sexes, nrow(subset_of(a)))), cols))
races <- sort(unique(na.omit(adsl$RACE)))
add("Race", setNames(lapply(cols, function(a) categorical(subset_of(a)$RACE, races, nrow(subset_of(a)))), cols))

base <- adlb[!is.na(adlb$ABLFL) & adlb$ABLFL == "Y" & !is.na(adlb$AVAL), ]
value_of <- function(paramcd, ids) {
  b <- base[base$PARAMCD == paramcd, ]
  b$AVAL[match(ids, b$USUBJID)]
}
cp <- value_of("CPSCORE", adsl$USUBJID)
adsl$CPCLASS <- ifelse(cp >= 5 & cp <= 6, "A", ifelse(cp >= 7 & cp <= 9, "B", ifelse(cp >= 10 & cp <= 15, "C", NA)))
add("Child-Pugh class, baseline",
    setNames(lapply(cols, function(a) categorical(subset_of(a)$CPCLASS, c("A", "B", "C"), nrow(subset_of(a)))), cols))
label_of <- function(p) {
  param <- adlb$PARAM[adlb$PARAMCD == p][1]
  unit <- adlb$AVALU[adlb$PARAMCD == p][1]
  if (!is.na(unit) && !grepl(paste0("(", unit, ")"), param, fixed = TRUE)) param <- paste0(param, " (", unit, ")")
  paste0(param, ", baseline")
}
labs <- c(CPSCORE = "Child-Pugh score, baseline", MELD = "MELD score, baseline")
for (p in c("CPSCORE", "MELD", "ALB", "TBIL", "ALT", "AST", "PTA", "INR", "CREAT", "SODIUM")) {
  label <- if (p %in% names(labs)) labs[[p]] else label_of(p)
  d <- precision(value_of(p, adsl$USUBJID))
  add(label, setNames(lapply(cols, function(a) continuous(value_of(p, subset_of(a)$USUBJID), d)), cols))
}
out <- do.call(rbind, rows)
write.csv(out, "tests/reference/report_table1_seed.csv", row.names = FALSE)
cat(nrow(out), "rows written\n")

# The CDISC pilot (../shared/data/cdiscpilot01, when present): ADSL and ADLBHY baseline ALT, AST, BILI.
# writes tests/reference/report_table1_pilot.csv
pilot <- "../shared/data/cdiscpilot01"
if (file.exists(file.path(pilot, "adsl.xpt"))) {
  adsl <- foreign::read.xport(file.path(pilot, "adsl.xpt"))
  adlb <- foreign::read.xport(file.path(pilot, "adlbhy.xpt"))
  adsl[] <- lapply(adsl, function(v) if (is.character(v) || is.factor(v)) { v <- trimws(as.character(v)); v[v == ""] <- NA; v } else v)
  adlb[] <- lapply(adlb, function(v) if (is.character(v) || is.factor(v)) { v <- trimws(as.character(v)); v[v == ""] <- NA; v } else v)
  adsl <- adsl[order(adsl$TRT01AN), ]
  arms <- unique(adsl$TRT01A)
  cols <- c(arms, "Total")
  rows <- list()
  add("Age (years)", setNames(lapply(cols, function(a) continuous(subset_of(a)$AGE, precision(adsl$AGE))), cols))
  adsl$SEXL <- c(F = "Female", M = "Male")[adsl$SEX]
  sexes <- sort(unique(na.omit(adsl$SEXL)))
  add("Sex", setNames(lapply(cols, function(a) categorical(subset_of(a)$SEXL, sexes, nrow(subset_of(a)))), cols))
  races <- sort(unique(na.omit(adsl$RACE)))
  add("Race", setNames(lapply(cols, function(a) categorical(subset_of(a)$RACE, races, nrow(subset_of(a)))), cols))
  base <- adlb[!is.na(adlb$ABLFL) & adlb$ABLFL == "Y" & !is.na(adlb$AVAL), ]
  for (p in c("BILI", "ALT", "AST")) {
    label <- paste0(adlb$PARAM[adlb$PARAMCD == p][1], ", baseline")
    d <- precision(value_of(p, adsl$USUBJID))
    add(label, setNames(lapply(cols, function(a) continuous(value_of(p, subset_of(a)$USUBJID), d)), cols))
  }
  out <- do.call(rbind, rows)
  write.csv(out, "tests/reference/report_table1_pilot.csv", row.names = FALSE)
  cat(nrow(out), "pilot rows written\n")
}
