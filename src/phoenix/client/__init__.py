"""`phoenix-client`: the reference client — the user's side of every wire contract.

It talks to the servers only over HTTP and imports nothing of them: of Phoenix, only the pure
`phoenix.crypto` (an import-linter contract says so). What it keeps on disk lives in one
directory: the Firebase session (`session.json`) and, apart from it, the unlinkable tokens
(`tokens.json`, which names no account). See docs/client.md.
"""
