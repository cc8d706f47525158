"""Persona sweeps: specs, their expansion into trials, the Ray driver, the summary.

Public API::

    from valuespectrum.sweep import SweepRunner, load_sweep_spec
    spec = load_sweep_spec("experiments/demo.yaml")
    outcome = SweepRunner(spec).run()          # rerunning resumes; restart=True starts over
"""

from valuespectrum.sweep.spec import SweepSpec, expand, load_sweep_spec

__all__ = ["SweepRunner", "SweepSpec", "expand", "load_sweep_spec"]


def __getattr__(name: str):  # the driver imports Ray-side modules: load it on first use
    if name == "SweepRunner":
        from valuespectrum.sweep.driver import SweepRunner

        return SweepRunner
    raise AttributeError(name)
