# Independent reference numbers for `trialkit safety` on the CDISC pilot
# (CDISCPILOT01), computed with base R and the recommended package foreign:
# no trialkit code is involved. Run from the repository root:
#
#   Rscript tests/reference/make_safety_reference.R [../shared/data/cdiscpilot01]
#
# It reads adsl.xpt, adae.xpt and adlbhy.xpt with foreign::read.xport and writes
#   tests/reference/pilot_t14_5_01.csv    Table 14-5.01: every "any", SOC and PT row
#   tests/reference/pilot_liver_peaks.csv peak post-baseline ALT, AST, bilirubin per subject
#   tests/reference/pilot_liver_shift.csv baseline -> worst post-baseline category counts
#   tests/reference/newcombe_r.csv        risk differences with Newcombe's hybrid score interval
#                                         (Newcombe 1998, Stat Med 17:873, examples a-c)
#
# Definitions (those of the published Table 14-5.01 and of trialkit's `definitions`):
# - safety population: ADSL SAFFL == "Y"; group = ADSL TRT01A; N = subjects per group;
# - treatment-emergent: ADAE TRTEMFL == "Y";
# - a subject counts once per row; events count every record;
# - p: fisher.test(matrix(c(n_arm, N_arm - n_arm, n_placebo, N_placebo - n_placebo),
#   nrow = 2, byrow = TRUE))$p.value (two-sided), NA when n_arm + n_placebo == 0.
# Liver (ADLBHY, PARAMCD ALT, AST, BILI): baseline = the ABLFL == "Y" record;
# post-baseline = records with ADY greater than the baseline record's ADY; peak =
# max over post-baseline records of AVAL / A1HI; xBL = max AVAL / baseline AVAL.
# Hy's law candidate: (peak ALT/ULN > 3 or peak AST/ULN > 3) and peak bili/ULN > 2.
# Category: low AVAL < A1LO, high AVAL > A1HI, else normal; worst post-baseline =
# the most extreme record (fold beyond its limit: AVAL/A1HI above, A1LO/AVAL below;
# a tie goes to high), normal when no record is abnormal. Shift denominators:
# subjects of the group with a post-baseline value of the parameter.
suppressPackageStartupMessages(library(foreign))

args <- commandArgs(trailingOnly = TRUE)
pilot <- if (length(args)) args[1] else "../shared/data/cdiscpilot01"
out <- "tests/reference"

adsl <- read.xport(file.path(pilot, "adsl.xpt"))
adae <- read.xport(file.path(pilot, "adae.xpt"))
adlb <- read.xport(file.path(pilot, "adlbhy.xpt"))

saf <- adsl[adsl$SAFFL == "Y", c("USUBJID", "TRT01A", "TRT01AN")]
arms <- unique(saf[order(saf$TRT01AN), "TRT01A"])
N <- sapply(arms, function(a) sum(saf$TRT01A == a))
ref <- arms[1]

te <- merge(adae[adae$TRTEMFL == "Y", c("USUBJID", "AEBODSYS", "AEDECOD")], saf, by = "USUBJID")

count_row <- function(d, level, soc, pt) {
  do.call(rbind, lapply(arms, function(a) {
    da <- d[d$TRT01A == a, ]
    data.frame(level = level, soc = soc, pt = pt, arm = a, N = N[[a]],
               subjects = length(unique(da$USUBJID)), events = nrow(da))
  }))
}

rows <- list(count_row(te, "any", NA, NA))
for (s in sort(unique(te$AEBODSYS))) {
  ds <- te[te$AEBODSYS == s, ]
  rows[[length(rows) + 1]] <- count_row(ds, "soc", s, NA)
  for (p in sort(unique(ds$AEDECOD))) {
    rows[[length(rows) + 1]] <- count_row(ds[ds$AEDECOD == p, ], "pt", s, p)
  }
}
tab <- do.call(rbind, rows)
tab$percent <- 100 * tab$subjects / tab$N
tab$p_vs_reference <- NA_real_
for (i in seq_len(nrow(tab))) {
  if (tab$arm[i] == ref) next
  same <- tab$level == tab$level[i] & (tab$soc %in% tab$soc[i]) & (tab$pt %in% tab$pt[i]) & tab$arm == ref
  r <- tab[same, ]
  if (tab$subjects[i] + r$subjects == 0) next
  m <- matrix(c(tab$subjects[i], tab$N[i] - tab$subjects[i], r$subjects, r$N - r$subjects), nrow = 2, byrow = TRUE)
  tab$p_vs_reference[i] <- fisher.test(m)$p.value
}
tab$reference <- ref
write.csv(tab, file.path(out, "pilot_t14_5_01.csv"), row.names = FALSE, na = "")

# ------------------------------------------------------------------ liver
lb <- merge(adlb[adlb$PARAMCD %in% c("ALT", "AST", "BILI"), c("USUBJID", "PARAMCD", "AVAL", "ADY", "ABLFL", "A1LO", "A1HI")],
            saf, by = "USUBJID")
base <- lb[lb$ABLFL %in% "Y", c("USUBJID", "PARAMCD", "AVAL", "ADY", "A1LO", "A1HI")]
names(base)[3:6] <- c("BASE", "BASEDY", "BASELO", "BASEHI")
lb <- merge(lb, base, by = c("USUBJID", "PARAMCD"), all.x = TRUE)
post <- lb[!(lb$ABLFL %in% "Y") & !is.na(lb$AVAL) & !is.na(lb$ADY) & (is.na(lb$BASEDY) | lb$ADY > lb$BASEDY), ]

peak <- aggregate(cbind(uln = AVAL / A1HI) ~ USUBJID + TRT01A + PARAMCD, data = post, FUN = max)
xbl <- aggregate(cbind(xbl = AVAL / BASE) ~ USUBJID + TRT01A + PARAMCD, data = post[!is.na(post$BASE) & post$BASE > 0, ], FUN = max)
wide <- function(d, v, suffix) {
  w <- reshape(d[, c("USUBJID", "TRT01A", "PARAMCD", v)], idvar = c("USUBJID", "TRT01A"), timevar = "PARAMCD", direction = "wide")
  names(w) <- sub(paste0("^", v, "\\.(.*)$"), paste0("\\1", suffix), names(w))
  w
}
peaks <- merge(wide(peak, "uln", "_uln"), wide(xbl, "xbl", "_xbl"), by = c("USUBJID", "TRT01A"), all = TRUE)
names(peaks) <- tolower(sub("BILI", "bili", names(peaks)))
names(peaks)[names(peaks) == "trt01a"] <- "arm"
peaks$hys_law <- with(peaks, (alt_uln > 3 | ast_uln > 3) & bili_uln > 2)
peaks$hys_law[is.na(peaks$hys_law)] <- FALSE
peaks <- peaks[order(peaks$usubjid), c("usubjid", "arm", "alt_uln", "ast_uln", "bili_uln", "alt_xbl", "ast_xbl", "bili_xbl", "hys_law")]
write.csv(peaks, file.path(out, "pilot_liver_peaks.csv"), row.names = FALSE, na = "")

category <- function(v, lo, hi) ifelse(!is.na(lo) & v < lo, "low", ifelse(!is.na(hi) & v > hi, "high", "normal"))
post$extreme <- ifelse(!is.na(post$A1HI) & post$AVAL > post$A1HI, post$AVAL / post$A1HI,
                ifelse(!is.na(post$A1LO) & post$AVAL < post$A1LO, post$A1LO / post$AVAL, 0))
post$cat <- category(post$AVAL, post$A1LO, post$A1HI)
worst <- do.call(rbind, lapply(split(post, list(post$USUBJID, post$PARAMCD), drop = TRUE), function(d) {
  abn <- d[d$extreme > 0, ]
  w <- if (nrow(abn) == 0) "normal" else {
    top <- abn[abn$extreme == max(abn$extreme), ]
    if (any(top$cat == "high")) "high" else "low"
  }
  b <- if (is.na(d$BASE[1])) "missing" else category(d$BASE[1], d$BASELO[1], d$BASEHI[1])
  data.frame(USUBJID = d$USUBJID[1], TRT01A = d$TRT01A[1], PARAMCD = d$PARAMCD[1], baseline = b, worst = w)
}))
shift <- aggregate(USUBJID ~ PARAMCD + TRT01A + baseline + worst, data = worst, FUN = length)
names(shift) <- c("param", "arm", "baseline", "worst", "subjects")
denom <- aggregate(USUBJID ~ PARAMCD + TRT01A, data = worst, FUN = length)
names(denom) <- c("param", "arm", "n")
shift <- merge(shift, denom, by = c("param", "arm"))
shift <- shift[order(shift$param, shift$arm, shift$baseline, shift$worst), ]
write.csv(shift, file.path(out, "pilot_liver_shift.csv"), row.names = FALSE, na = "")

# ------------------------------------------------------------ Newcombe
# Wilson limits from prop.test(x, n, correct = FALSE)$conf.int, combined by method 10.
wilson <- function(x, n) prop.test(x, n, correct = FALSE)$conf.int
newcombe <- function(x1, n1, x2, n2) {
  p1 <- x1 / n1; p2 <- x2 / n2; a <- wilson(x1, n1); b <- wilson(x2, n2); d <- p1 - p2
  data.frame(x1 = x1, n1 = n1, x2 = x2, n2 = n2, rd = d,
             lower = d - sqrt((p1 - a[1])^2 + (b[2] - p2)^2), upper = d + sqrt((a[2] - p1)^2 + (p2 - b[1])^2))
}
nc <- rbind(newcombe(56, 70, 48, 80), newcombe(9, 10, 3, 10), newcombe(5, 56, 0, 29), newcombe(22, 84, 6, 86))
write.csv(format(nc, digits = 15), file.path(out, "newcombe_r.csv"), row.names = FALSE, quote = FALSE)

cat(sprintf("R %s, foreign %s\n", R.version.string, as.character(packageVersion("foreign"))))
cat(sprintf("%d incidence rows, %d subjects with liver peaks (%d Hy's law candidates), %d shift cells\n",
            nrow(tab), nrow(peaks), sum(peaks$hys_law), nrow(shift)))
