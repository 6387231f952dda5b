"""Errors every model raises when it cannot be trained, so the pipeline can skip it with a message.

An orchestration asset catches ``ModelSkipped``: it records the run as skipped in ``ml.model_runs``
with the message, writes an empty output table, and lets everything downstream run.
"""


class ModelSkipped(Exception):
    """A model cannot be trained on this data; the message says why, in words a person can act on."""


class NotEnoughData(ModelSkipped):
    """Too little data to identify the model (too few customers, one class only, no repeat buyers)."""


class FitFailed(ModelSkipped):
    """The fit did not converge to a usable model."""
