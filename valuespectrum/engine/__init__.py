"""The experiment engine: the `Task` protocol and registry, one run lifecycle, one
fault-tolerant actor pool, one typed run reader (`engine.reader.RunReader`) (docs/engine.md).
Import the submodules directly."""
