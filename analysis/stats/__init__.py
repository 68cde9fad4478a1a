"""Estimators: one pure function per statistic, each tested against R or by hand.

Modules: ``intervals`` (binomial and bootstrap intervals), ``agreement`` (ICC, Lin's
CCC, Bland-Altman, Cohen's kappa); further modules hold the
survival estimators (Kaplan-Meier, log-rank, Cox, competing risks) and model metrics.
Nothing here reads files or knows the cohort store, the notebooks or the phantom.
"""
