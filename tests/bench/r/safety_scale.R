# R's side of the scale suite's safety case (tests/bench/cases.py): the incidence of treatment-emergent
# AEs by system organ class and preferred term, in subjects per arm (each subject counted once per term),
# and Fisher's exact test of each arm against Placebo for every SOC and PT, as `trialkit safety` reports
# them -- on aes.rds and arms.rds (r/make_scale_rds.R).
#   Rscript tests/bench/r/safety_scale.R bench-data/sim-N
# Prints BENCH_COMPUTE_S (elapsed) and BENCH_COMPUTE_CPU_S of the computation alone (not R's start or readRDS).
args <- commandArgs(trailingOnly = TRUE)
a <- readRDS(file.path(args[1], "aes.rds"))
n <- readRDS(file.path(args[1], "arms.rds"))
big_n <- setNames(n$N, n$TRT01A)
start <- proc.time()
incidence <- function(term) {
  u <- unique(data.frame(USUBJID = a$USUBJID, TRT01A = a$TRT01A, TERM = a[[term]]))
  counts <- as.data.frame(table(TERM = u$TERM, TRT01A = u$TRT01A))
  wide <- reshape(counts, idvar = "TERM", timevar = "TRT01A", direction = "wide")
  for (g in c("Low", "High")) {
    x <- wide[[paste0("Freq.", g)]]; r <- wide[["Freq.Placebo"]]
    wide[[paste0("p.", g)]] <- mapply(function(x, r) fisher.test(matrix(c(x, big_n[[g]] - x, r, big_n[["Placebo"]] - r), 2))$p.value, x, r)
  }
  wide
}
any_teae <- tapply(a$USUBJID, a$TRT01A, function(s) length(unique(s)))
soc <- incidence("AEBODSYS")
pt <- incidence("AEDECOD")
used <- proc.time() - start
cat(sprintf("BENCH_COMPUTE_S=%.4f\nBENCH_COMPUTE_CPU_S=%.4f\n", used[["elapsed"]],
            used[["user.self"]] + used[["sys.self"]]))
print(head(pt))
