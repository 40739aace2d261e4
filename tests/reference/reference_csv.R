# The writer shared by the reference scripts beside this file (mixed_lme4.R, ordinal_clmm.R), which source it.
# A reference CSV is a "#" header that says how it was made (the Rscript call, the R and package versions, the
# model calls, the data fingerprint the tests check) and then the rows, estimate and std_error with 15
# significant digits and an empty std_error where the package gives none.

# args: the script's command line (input CSV, output CSV, data fingerprint); script: its file name;
# title: what made the values ("lme4"); package: the R package whose version is recorded; calls: one line per
# model call.
write_reference <- function(table, args, script, title, package, calls) {
  table$estimate <- sprintf("%.15g", table$estimate)
  table$std_error <- ifelse(is.na(table$std_error), "", sprintf("%.15g", table$std_error))
  header <- c(
    sprintf("# %s reference values (see tests/reference/%s), made with:", title, script),
    sprintf("#   Rscript tests/reference/%s %s %s %s", script, basename(args[1]), basename(args[2]), args[3]),
    sprintf("#   %s, %s %s", R.version.string, package, as.character(packageVersion(package))),
    paste0("#   ", calls),
    sprintf("# data_fingerprint: %s", args[3])
  )
  writeLines(header, args[2])
  suppressWarnings(write.table(table, args[2], append = TRUE, sep = ",", row.names = FALSE, quote = FALSE))
}
