import math

import numpy as np
import torch

from maflow.utils.stats import log_mean_exp, mean_and_error, robust_summary


def test_mean_and_error_is_two_standard_errors():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    mean, error = mean_and_error(values)
    assert mean == 2.5 and math.isclose(error, 2 * np.std(values) / 2)


def test_log_mean_exp_is_stable():
    values = torch.tensor([1000.0, 1000.0 + math.log(3.0)], dtype=torch.float64)
    assert math.isclose(log_mean_exp(values).item(), 1000.0 + math.log(2.0), rel_tol=1e-12)


def test_robust_summary_counts_outliers():
    values = np.concatenate([np.random.RandomState(0).randn(1000), [-1e6, -1e7]])
    summary = robust_summary(values)
    assert summary["num_outliers"] == 2 and abs(summary["median"]) < 0.2 and summary["mean"] < -1000


def test_one_value_has_no_standard_error():
    mean, error = mean_and_error([4.5])
    assert mean == 4.5 and math.isnan(error)
