# Reference values for trialkit's Table 1 (analyses/report/table1.py) on the CDISC pilot: the numbers of its
# Table 14-2.01, Summary of Demographic and Baseline Characteristics (ITT population, ADSL ITTFL = "Y", by planned
# treatment TRT01P in TRT01PN order, plus Total). Base R and foreign::read.xport only, independent of trialkit.
# Run from the repository root, with the pilot beside it (../shared/data/cdiscpilot01):
#   Rscript tests/reference/make_pilot_table14_2_01.R
# writes tests/reference/pilot_table14_2_01_r.csv: variable, category, group, stat, value (15 significant digits).
#   numeric variables: n, mean, sd (n - 1), median, q1, q3 (quantile(type = 7)), min, max over non-missing values;
#   character variables: count and percent (of the group's subjects) per category, categories in the order of the
#   ADSL *N variable when there is one (AGEGR1N, RACEN), else sort(); "Missing" when some value is missing.
pilot <- "../shared/data/cdiscpilot01"
adsl <- foreign::read.xport(file.path(pilot, "adsl.xpt"))
adsl[] <- lapply(adsl, function(v) if (is.character(v) || is.factor(v)) {
  v <- trimws(as.character(v)); v[v == ""] <- NA; v
} else v)
adsl <- adsl[!is.na(adsl$ITTFL) & adsl$ITTFL == "Y", ]
adsl <- adsl[order(adsl$TRT01PN), ]
groups <- c(unique(adsl$TRT01P), "Total")
subset_of <- function(g) if (g == "Total") adsl else adsl[adsl$TRT01P == g, ]

variables <- c("AGE", "AGEGR1", "SEX", "RACE", "ETHNIC", "HEIGHTBL", "WEIGHTBL", "BMIBL", "BMIBLGR1", "EDUCLVL",
               "DURDIS", "DURDSGR1", "MMSETOT")
num <- function(x) sprintf("%.15g", x)
rows <- list()
emit <- function(variable, category, group, stat, value) {
  rows[[length(rows) + 1]] <<- data.frame(variable = variable, category = category, group = group, stat = stat,
                                          value = num(value))
}
for (v in variables) {
  if (is.numeric(adsl[[v]])) {
    for (g in groups) {
      x <- subset_of(g)[[v]]
      x <- x[!is.na(x)]
      q <- quantile(x, c(0.5, 0.25, 0.75), type = 7, names = FALSE)
      stats <- c(n = length(x), mean = mean(x), sd = sd(x), median = q[1], q1 = q[2], q3 = q[3], min = min(x),
                 max = max(x))
      for (s in names(stats)) emit(v, "", g, s, stats[[s]])
    }
  } else {
    coded <- paste0(v, "N")
    levels <- if (coded %in% names(adsl)) {
      codes <- tapply(adsl[[coded]], adsl[[v]], min)
      names(sort(codes))
    } else sort(unique(na.omit(adsl[[v]])))
    if (any(is.na(adsl[[v]]))) levels <- c(levels, "Missing")
    for (g in groups) {
      x <- subset_of(g)[[v]]
      for (l in levels) {
        k <- if (l == "Missing") sum(is.na(x)) else sum(x == l, na.rm = TRUE)
        emit(v, l, g, "count", k)
        emit(v, l, g, "percent", 100 * k / length(x))
      }
    }
  }
}
out <- do.call(rbind, rows)
write.csv(out, "tests/reference/pilot_table14_2_01_r.csv", row.names = FALSE)
cat(nrow(out), "rows written\n")
