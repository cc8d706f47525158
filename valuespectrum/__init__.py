"""ValueSpectrum: measure and steer the value preferences of VLM viewers of short-video feeds."""

__version__ = "0.1.0"
