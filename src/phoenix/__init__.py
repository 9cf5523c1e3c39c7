"""Phoenix: the backend of a privacy-first VPN.

One distribution, four roles (auth, config, analytics, worker); a process runs exactly one of them
and imports nothing of the others (see importlinter.ini and phoenix.app).
"""

__version__ = "0.1.0"
