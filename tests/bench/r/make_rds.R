# Converts a synthetic bench trial's CSV (tests/bench/synthetic.py) into the one data frame the timed
# R script reads, once, so that R's timing is not spent in read.csv and merge.
#
#   Rscript tests/bench/r/make_rds.R bench-data/trial-100000/csv bench-data/trial-100000/trial.rds
#
# The frame: one row per subject with AVAL, EVENT (1 - CNSR), TRT01A (factor Placebo, Low, High),
# AGE, SEX, STRAT1, STRAT2, from ADTTE PARAMCD OS joined to ADSL by USUBJID.
args <- commandArgs(trailingOnly = TRUE)
adsl <- read.csv(file.path(args[1], "adsl.csv"), stringsAsFactors = FALSE)
adtte <- read.csv(file.path(args[1], "adtte.csv"), stringsAsFactors = FALSE)
adtte <- adtte[adtte$PARAMCD == "OS", c("USUBJID", "AVAL", "CNSR")]
d <- merge(adtte, adsl[, c("USUBJID", "TRT01A", "AGE", "SEX", "STRAT1", "STRAT2")], by = "USUBJID")
d$EVENT <- 1 - d$CNSR
d$TRT01A <- factor(d$TRT01A, levels = c("Placebo", "Low", "High"))
d$SEX <- factor(d$SEX, levels = c("F", "M"))
tmp <- paste0(args[2], ".part")
saveRDS(d, tmp)
invisible(file.rename(tmp, args[2]))
