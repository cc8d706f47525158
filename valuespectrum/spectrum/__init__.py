"""The Value-Spectrum benchmark: specs, arms (one per model), the run, Table 1.

Public API::

    from valuespectrum.spectrum import SpectrumRun, load_spectrum_spec
    summary = SpectrumRun(load_spectrum_spec("experiments/spectrum-demo.yaml")).run()
"""

from valuespectrum.spectrum.spec import SpectrumSpec, load_spectrum_spec

__all__ = ["SpectrumRun", "SpectrumSpec", "load_spectrum_spec"]


def __getattr__(name: str):
    if name == "SpectrumRun":
        from valuespectrum.spectrum.run import SpectrumRun

        return SpectrumRun
    raise AttributeError(name)
