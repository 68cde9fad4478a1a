"""Figures of the report, returned as matplotlib figures (saving: analysis.outputs).

Modules: ``survival`` (Kaplan-Meier curves with numbers at risk, the coverage zip plot).
Importing a module here sets no matplotlib backend and draws nothing.
"""
