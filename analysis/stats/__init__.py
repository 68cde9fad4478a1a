"""Estimators: one pure function per statistic, each tested against R or by hand.

Modules: ``intervals`` (binomial and bootstrap intervals); further modules hold the
survival estimators (Kaplan-Meier, log-rank, Cox, PH tests, competing risks: ``competing``,
``gray``, ``finegray``) and model metrics.
Nothing here reads files or knows the cohort store, the notebooks or the phantom.
"""
