"""phoenix-node: the exit-node daemon. Imports nothing from the `phoenix` server distribution."""

__version__ = "0.1.0"
