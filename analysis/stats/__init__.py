"""Estimators: one pure function per statistic, each tested against R or by hand.

Modules: ``intervals`` (Wilson, and Wilson with a design effect for items clustered in
patients); ``samplesize`` (Riley et al.'s minimum sample size for a prediction model);
``agreement`` (ICC, Lin's CCC, Bland-Altman, Cohen's kappa); further modules hold the
survival estimators (Kaplan-Meier, log-rank, Cox, PH tests, competing risks:
``competing``, ``gray``, ``finegray``) and model metrics.
Nothing here reads files or knows the cohort store, the notebooks or the phantom.
"""
