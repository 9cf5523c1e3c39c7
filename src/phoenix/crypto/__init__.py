"""Pure cryptography over bytes: no I/O, no web framework, no role. Checked against RFC vectors."""
