"""The config role (the anonymizer): knows that a token is valid; never who holds it."""
