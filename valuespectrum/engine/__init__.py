"""The experiment engine: the `Task` protocol and registry, one run lifecycle, one
fault-tolerant actor pool (docs/engine.md). Import the submodules directly."""
