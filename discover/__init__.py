"""discover: symbolic knowledge discovery with differentiable process-based models."""

__version__ = "0.1.0"
