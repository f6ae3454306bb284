"""Hardware as data: bundled TOML specs with a source for every figure, strictly loaded."""

from gpu_models.loader import bundled_names as list_hardware
from gpu_models.loader import load_hardware, spec_path
from gpu_models.spec import AcceleratorSpec, GPUSpec, HardwareError

__all__ = ["AcceleratorSpec", "GPUSpec", "HardwareError", "list_hardware", "load_hardware", "spec_path"]
