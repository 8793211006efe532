"""Evaluation protocols: top-down prediction, metrics files, comparisons."""
