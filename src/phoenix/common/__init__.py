"""The shared kernel: logging, errors, health, metrics and HTTP app assembly. Imports no role."""
