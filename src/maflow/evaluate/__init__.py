"""Evaluation: likelihoods with error bars, bits/dim, importance sampling, pictures."""
