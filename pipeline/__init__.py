"""FinOps Input Generator: a simulated ML compute workload delivered as signed webhooks."""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("finops-input-generator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

#: The checkout: relative default paths (data/state, data/profiles/...) resolve against it.
ROOT = Path(__file__).resolve().parent.parent
