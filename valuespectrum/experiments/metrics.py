"""Alias of `valuespectrum.metrics` (the public statistics module), kept importable."""

from valuespectrum.metrics import *  # noqa: F403
from valuespectrum.metrics import __all__  # noqa: F401
