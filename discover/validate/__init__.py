"""Validation: metrics per site, paired hypothesis tests, parsimony and physical checks."""

from discover.validate.checks import CheckReport, CheckResult, check_function
from discover.validate.compare import (
    Comparison,
    block_bootstrap_comparison,
    compare_series,
    compare_variants,
    paired_comparison,
)
from discover.validate.metrics import (
    MetricWarning,
    bias,
    compute_metrics,
    fhv,
    flv,
    kge,
    median_scores,
    nse,
    pbias,
    rmse,
    score_sites,
    score_variants,
)
from discover.validate.parsimony import Parsimony, aic, bic, parsimony_scores, parsimony_table

__all__ = [
    "CheckReport",
    "CheckResult",
    "Comparison",
    "MetricWarning",
    "Parsimony",
    "aic",
    "bias",
    "bic",
    "block_bootstrap_comparison",
    "check_function",
    "compare_series",
    "compare_variants",
    "compute_metrics",
    "fhv",
    "flv",
    "kge",
    "median_scores",
    "nse",
    "paired_comparison",
    "parsimony_scores",
    "parsimony_table",
    "pbias",
    "rmse",
    "score_sites",
    "score_variants",
]
