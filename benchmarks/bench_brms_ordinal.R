# The Bayesian ordinal model of benchmarks/bench_bayes.py in R's brms, for the speed comparison
# (docs/performance.md). Not part of the pipeline and not run in CI (R is not installed there).
#
# Usage: Rscript benchmarks/bench_brms_ordinal.R <conversation_scores.csv> <chains> <iter> <warmup> <seed> <out.csv>
# (benchmarks/bench_bayes.py --brms runs it; Debian's r-cran-bh is a virtual package without the
# include/ folder rstan looks for, so bench_bayes.py points R_LIBS at a shim BH whose include/ links
# to /usr/include, where libboost-dev puts Boost.)
#
# Model (the closest brms equivalent of analysis/models/bayes.py's ordinal model, same data): the six
# dimensions rounded half up as registered; multivariate cumulative logit (set_rescor(FALSE)) with
# arm * post fixed effects (treatment-coded arm: baseline differences, post, arm:post), treatment-coded
# scenario effects, and participant intercepts correlated across the six outcomes via the shared
# group ID `p` in (1 | p | participant_id) (LKJ prior on the 6 x 6 correlation). Priors as registered:
# normal(0, 1) on the fixed effects (normal(0, 1) on scenario, whose zero-sum normal has sigma 1),
# normal(0, 3) on the cutpoints, half-normal(0, 2.5) on the participant SDs, lkj(2) on the correlation.
# Writes one row per parameter (rhat, ess_bulk, ess_tail via posterior::summarise_draws) and prints
# the timings.
suppressPackageStartupMessages({
  library(brms)
  library(posterior)
})
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 6) stop("usage: bench_brms_ordinal.R <conversation_scores.csv> <chains> <iter> <warmup> <seed> <out.csv>")
chains <- as.integer(args[2]); iter <- as.integer(args[3]); warmup <- as.integer(args[4]); seed <- as.integer(args[5])
dimensions <- c("validating_emotions", "encouraging_elaboration", "demonstrating_understanding",
                "advice_giving", "self_oriented", "dismissing_emotions")
data <- read.csv(args[1])
for (dimension in dimensions) data[[dimension]] <- as.integer(floor(data[[dimension]] + 0.5))
data$arm <- factor(data$arm, levels = c("control", "video", "coach", "combined"))
data$scenario <- factor(data$scenario)
formula <- bf(
  mvbind(validating_emotions, encouraging_elaboration, demonstrating_understanding,
         advice_giving, self_oriented, dismissing_emotions) ~ arm * post + scenario + (1 | p | participant_id)
) + set_rescor(FALSE)
responses <- gsub("_", "", dimensions)
priors <- do.call(c, lapply(responses, function(response) c(
  set_prior("normal(0, 1)", class = "b", resp = response),
  set_prior("normal(0, 3)", class = "Intercept", resp = response),
  set_prior("normal(0, 2.5)", class = "sd", resp = response)
)))
priors <- c(priors, set_prior("lkj(2)", class = "cor"))

cores <- min(chains, 2)
start <- Sys.time()
fit <- brm(formula, data = data, family = cumulative("logit"), prior = priors, chains = chains, iter = iter,
           warmup = warmup, cores = cores, seed = seed, backend = "rstan", refresh = 0)
wall <- as.numeric(difftime(Sys.time(), start, units = "secs"))
chain_seconds <- rowSums(rstan::get_elapsed_time(fit$fit))  # each chain's warm-up + sampling
# Chains run `cores` at a time, so sampling took at least the slowest chain and at least the total chain time
# spread over the cores: the larger of the two is a lower bound of the sampling wall time (it favours brms).
sampling <- max(max(chain_seconds), sum(chain_seconds) / cores)

draws <- as_draws_df(fit)
keep <- grep("^(b_|sd_|cor_)", variables(draws), value = TRUE)
summary <- summarise_draws(subset_draws(draws, variable = keep), "rhat", "ess_bulk", "ess_tail")
summary <- data.frame(variable = summary$variable, rhat = as.numeric(unclass(summary$rhat)),
                      ess_bulk = as.numeric(unclass(summary$ess_bulk)), ess_tail = as.numeric(unclass(summary$ess_tail)))
write.csv(summary, args[6], row.names = FALSE)
worst <- summary[which.min(summary$ess_bulk), ]
divergent <- sum(rstan::get_divergent_iterations(fit$fit))
cat(sprintf("brms: chains %d on %d cores, iter %d, warmup %d: brm() wall %.1f s (compile + sampling), sampling at least %.1f s (chains: %s s)\n",
            chains, cores, iter, warmup, wall, sampling, paste(sprintf("%.1f", chain_seconds), collapse = ", ")))
cat(sprintf("brms: %d parameters; min bulk ESS %.1f (%s), min tail ESS %.1f, max R-hat %.4f, divergences %d\n",
            nrow(summary), worst$ess_bulk, worst$variable, min(summary$ess_tail), max(summary$rhat), divergent))
cat(sprintf("brms: ESS/s of the slowest quantity: %.3f (sampling time), %.3f (wall time)\n",
            worst$ess_bulk / sampling, worst$ess_bulk / wall))
