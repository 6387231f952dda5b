"""Errors every model raises when it cannot be trained, so the pipeline can skip it with a message.

An orchestration asset catches ``ModelSkipped``: it records the run as skipped in ``ml.model_runs``
with the message, writes an empty output table, and lets everything downstream run.
"""


class ModelSkipped(Exception):
    """A model cannot be trained on this data; the message says why, in words a person can act on.
    ``metrics`` keeps what was measured before giving up (a candidate's validation figures), so the
    run's record shows why, not only that."""

    def __init__(self, message: str, metrics: dict | None = None):
        super().__init__(message)
        self.metrics = metrics or {}


class NotEnoughData(ModelSkipped):
    """Too little data to identify the model (too few customers, one class only, no repeat buyers)."""


class FitFailed(ModelSkipped):
    """The fit did not converge to a usable model."""
