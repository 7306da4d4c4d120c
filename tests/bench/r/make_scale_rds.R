# The scale suite's R data (tests/bench/scale_data.py): the CSV files it exports from a simulated trial,
# read once into the RDS files the timed scripts read, so that R's timing is not spent in read.csv.
#
#   Rscript tests/bench/r/make_scale_rds.R bench-data/sim-100000/csv bench-data/sim-100000
args <- commandArgs(trailingOnly = TRUE)
arms <- c("Placebo", "Low", "High")
save <- function(d, name) {
  path <- file.path(args[2], name)
  saveRDS(d, paste0(path, ".part"))
  invisible(file.rename(paste0(path, ".part"), path))
}
s <- read.csv(file.path(args[1], "survival.csv"), stringsAsFactors = FALSE)
s$EVENT <- 1 - s$CNSR
s$TRT01A <- factor(s$TRT01A, levels = arms)
s$SEX <- factor(s$SEX, levels = c("F", "M"))
save(s, "survival.rds")
l <- read.csv(file.path(args[1], "labs.csv"), stringsAsFactors = FALSE,
              colClasses = c("character", "character", "numeric", "numeric", "numeric", "numeric", "character"))
l$TRT01A <- factor(l$TRT01A, levels = arms)
save(l, "labs.rds")
a <- read.csv(file.path(args[1], "aes.csv"), stringsAsFactors = FALSE)
a$TRT01A <- factor(a$TRT01A, levels = arms)
save(a, "aes.rds")
n <- read.csv(file.path(args[1], "arms.csv"), stringsAsFactors = FALSE)
save(n, "arms.rds")
