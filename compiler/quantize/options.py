"""Options of the quantization schemes (light to import: the CLI reads the choices from here)."""
from __future__ import annotations

from dataclasses import dataclass, field

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")  # ORT's calibrators, by our names
ACTIVATION_TYPES = ("int8", "uint8")


@dataclass
class Int8Options:
    method: str = "minmax"  # one of CALIBRATION_METHODS
    per_channel: bool = True  # symmetric per-output-channel int8 weights
    activations: str = "int8"  # "int8" (symmetric) | "uint8" (asymmetric)
    exclude: list[str] = field(default_factory=list)  # node names kept in float
    percentile: float = 99.999


@dataclass
class WeightOptions:
    """Weight-only schemes take no options: weights are stored smaller, compute stays float."""
