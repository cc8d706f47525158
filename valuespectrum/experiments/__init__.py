"""Compatibility package: `valuespectrum.experiments.metrics` is `valuespectrum.metrics`.

The run pipelines live in `valuespectrum.sweep` and `valuespectrum.spectrum`.
"""
