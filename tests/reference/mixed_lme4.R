# Reference values of tests/test_mixed.py and tests/test_reliable_change.py, computed with R's lme4.
# R is not available in CI: the tests read the CSV this script writes (tests/reference/mixed_lme4_*.csv).
# The data: tests/reference/mixed_small_cohort.csv; paper_sim and paper_sim at 10x the trial, written by
#   PYTHONPATH=. python -c 'from tests.test_mixed import paper_sim_outcomes as o; o(10).to_csv("paper_sim_10x_conversation_scores.csv", index=False)'
# (o() for paper_sim); the fingerprint is tests.test_mixed.fingerprint() of the same frame.
#
#   Rscript tests/reference/mixed_lme4.R <conversation_scores.csv> <output.csv> <data fingerprint>
#
# For every outcome: lmer(score ~ arm * post + scenario + (1 | participant_id), REML = TRUE) with arm levels
# control (reference), video, coach, combined and scenario levels in sorted order (the first is the reference);
# and, for the reliability model, lmer(overall_empathy ~ post + (1 | participant_id), REML = TRUE) on the control
# arm. Written: fixed effects (estimate, std_error from vcov), the variance components var(participant) and
# var(residual) (VarCorr), and the REML criterion (REMLcrit), all with 15 significant digits, term names as in
# the pipeline's tables.
suppressMessages(library(lme4))
# write_reference() is in reference_csv.R beside this script, found wherever the script is run from.
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))), "reference_csv.R"))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1], comment.char = "#", colClasses = c(participant_id = "character"))
data$arm <- factor(data$arm, levels = c("control", "video", "coach", "combined"))
data$scenario <- factor(data$scenario, levels = sort(unique(data$scenario)))
outcomes <- c("validating_emotions", "encouraging_elaboration", "demonstrating_understanding",
              "advice_giving", "self_oriented", "dismissing_emotions", "overall_empathy")

term_name <- function(term) {
  term <- sub("^\\(Intercept\\)$", "intercept", term)
  term <- sub("^arm", "", term)
  sub("^scenario(.*)$", "scenario[\\1]", term)
}

rows_of <- function(model, label, outcome) {
  coefficients <- summary(model)$coefficients
  components <- as.data.frame(VarCorr(model))
  data.frame(
    model = label, outcome = outcome,
    term = c(term_name(rownames(coefficients)), "var(participant)", "var(residual)", "reml_criterion"),
    estimate = c(coefficients[, "Estimate"], components$vcov[components$grp == "participant_id"],
                 components$vcov[components$grp == "Residual"], REMLcrit(model)),
    std_error = c(coefficients[, "Std. Error"], NA, NA, NA)
  )
}

rows <- list()
for (outcome in outcomes) {
  formula <- as.formula(paste(outcome, "~ arm * post + scenario + (1 | participant_id)"))
  rows[[outcome]] <- rows_of(lmer(formula, data = data, REML = TRUE), "lmm", outcome)
}
control <- droplevels(data[data$arm == "control", ])
rows[["reliability"]] <- rows_of(
  lmer(overall_empathy ~ post + (1 | participant_id), data = control, REML = TRUE), "reliability", "overall_empathy"
)
write_reference(
  do.call(rbind, rows), args, "mixed_lme4.R", "lme4", "lme4",
  c("lmm: lmer(<outcome> ~ arm * post + scenario + (1 | participant_id), data, REML = TRUE)",
    "reliability: lmer(overall_empathy ~ post + (1 | participant_id), data = control arm only, REML = TRUE)",
    "estimate/std_error: summary(m)$coefficients; var(participant), var(residual): VarCorr(m); reml_criterion: REMLcrit(m)")
)
