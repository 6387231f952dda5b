"""Measurement: experiment readouts of the audiences' holdouts (docs/experiments.md)."""

from cdp.measure.config import ReadoutConfig, load_readout_config
from cdp.measure.readouts import write_experiment_readouts

__all__ = ["ReadoutConfig", "load_readout_config", "write_experiment_readouts"]
