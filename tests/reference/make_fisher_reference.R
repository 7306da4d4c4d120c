# Reference p-values for trialkit's two-sided Fisher exact test (analyses/safety/incidence.py), from R's
# fisher.test on 2 x 2 tables of a group's subjects with an event against the reference group's, from tiny
# counts to a million-subject trial's (333,000 per arm). Writes tests/reference/fisher_r.json.
#   Rscript tests/reference/make_fisher_reference.R   (from the repository root)
tables <- list(c(3, 4, 1, 4), c(2, 4, 1, 4), c(0, 84, 5, 86), c(10, 86, 0, 84), c(7, 7, 0, 9),
               c(120, 3300, 95, 3350), c(1650, 3333, 1600, 3334), c(30000, 333000, 31000, 333500),
               c(5, 333000, 25, 333500), c(0, 333000, 40, 333500), c(166000, 333000, 167500, 333500),
               c(1, 100000, 1, 100000), c(50, 50, 0, 50))
out <- lapply(tables, function(t) {
  a <- t[1]; na <- t[2]; r <- t[3]; nr <- t[4]
  p <- fisher.test(matrix(c(a, na - a, r, nr - r), nrow = 2, byrow = TRUE))$p.value
  list(a = a, n_a = na, r = r, n_r = nr, p = sprintf("%.17g", p))
})
writeLines(paste0("{\"r_version\": \"", R.version.string, "\", \"cases\": [",
                  paste(sapply(out, function(o) sprintf("{\"a\": %d, \"n_a\": %d, \"r\": %d, \"n_r\": %d, \"p\": %s}",
                                                        o$a, o$n_a, o$r, o$n_r, o$p)), collapse = ",\n"), "]}"),
           "tests/reference/fisher_r.json")
