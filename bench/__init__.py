"""Phoenix's benchmarks (`make bench`, i.e. ``python -m bench``).

Every figure is reported as a ratio to an anchor measured in the same run on the same machine
(DESIGN.md §7). A benchmark is a function returning :class:`bench.report.Result` records; it is
registered by name in :data:`bench.registry.BENCHMARKS`.
"""
