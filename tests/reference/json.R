# JSON written with base R (no jsonlite needed), shared by the reference scripts beside this file:
#   source("tests/reference/json.R")
# to_json(x): a named list is an object, an unnamed list or a vector of length > 1 an array; NA and
# non-finite numbers are null; numbers keep 17 significant digits; logicals are true/false.
num <- function(x) ifelse(is.na(x) | !is.finite(x), "null", sprintf("%.17g", x))
str_json <- function(x) sprintf('"%s"', gsub('"', '\\\\"', x))
to_json <- function(x, indent = "") {
  inner <- paste0(indent, "  ")
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    body <- vapply(x, to_json, "", indent = inner)
    if (!is.null(names(x))) body <- paste0(str_json(names(x)), ": ", body)
    open <- if (is.null(names(x))) "[" else "{"
    close <- if (is.null(names(x))) "]" else "}"
    return(paste0(open, "\n", inner, paste(body, collapse = paste0(",\n", inner)), "\n", indent, close))
  }
  if (length(x) != 1) return(to_json(as.list(x), indent))
  if (is.character(x)) return(str_json(x))
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
  num(x)
}
