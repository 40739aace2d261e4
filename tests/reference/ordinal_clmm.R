# Reference values of tests/test_bayes.py::test_single_dimension_ordinal_model_agrees_with_ordinal_clmm, computed
# with R's ordinal package. R is not available in CI: the test reads the CSV this script writes
# (tests/reference/ordinal_clmm_recovery.csv).
#
#   Rscript tests/reference/ordinal_clmm.R <cohort.csv> <output.csv> <data fingerprint>
#
# For each dimension column of the cohort: clmm(ordered(score) ~ arm * post + scenario + (1 | participant_id),
# link = "logit", nAGQ = 10) with arm levels control (reference), coach and sum-to-zero scenario contrasts
# (contr.sum; scenarios in sorted order), the parameterisation of the pipeline's ordinal model:
# logit P(y <= k) = theta_k - (x . beta + u), thresholds for the reference arm at baseline averaged over
# scenarios. Written: thresholds, fixed effects and the participant SD (estimate, std_error; the SD's std_error
# is not given by clmm and left empty), the sum-coded scenario effects with the last one as minus the sum of the
# others (its std_error empty), 15 significant digits.
suppressMessages(library(ordinal))
# write_reference() is in reference_csv.R beside this script, found wherever the script is run from.
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))), "reference_csv.R"))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1], colClasses = c(participant_id = "character"))
data$arm <- factor(data$arm, levels = c("control", "coach"))
scenarios <- sort(unique(data$scenario))
data$scenario <- factor(data$scenario, levels = scenarios)
contrasts(data$scenario) <- contr.sum(length(scenarios))
dimensions <- setdiff(names(data), c("conversation_id", "participant_id", "arm", "conversation_number", "post", "scenario"))

rows <- list()
for (dimension in dimensions) {
  data$score <- ordered(data[[dimension]], levels = 1:5)
  model <- clmm(score ~ arm * post + scenario + (1 | participant_id), data = data, link = "logit", nAGQ = 10)
  thresholds <- model$alpha
  beta <- model$beta
  covariance <- vcov(model)
  error <- sqrt(diag(covariance))
  scenario_terms <- grep("^scenario", names(beta), value = TRUE)
  scenario_values <- c(beta[scenario_terms], -sum(beta[scenario_terms]))
  rows[[dimension]] <- data.frame(
    dimension = dimension,
    quantity = c(rep("cutpoints", length(thresholds)), "arm_baseline", "post", "arm_post",
                 rep("scenario_effect", length(scenarios)), "participant_sd"),
    element = c(names(thresholds), "coach", "", "coach", scenarios, ""),
    estimate = c(thresholds, beta[c("armcoach", "post", "armcoach:post")], scenario_values,
                 attr(VarCorr(model)$participant_id, "stddev")),
    std_error = c(error[names(thresholds)], error[c("armcoach", "post", "armcoach:post")],
                  error[scenario_terms], NA, NA)
  )
}
write_reference(
  do.call(rbind, rows), args, "ordinal_clmm.R", "ordinal::clmm", "ordinal",
  "clmm(ordered(<dimension>) ~ arm * post + scenario + (1 | participant_id), link = 'logit', nAGQ = 10), scenario contr.sum"
)
