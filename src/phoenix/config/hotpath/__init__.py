"""The config role's hot path, fenced: the mechanisms that trade plainness for measured speed.

Group commit (phoenix.common.groupcommit), Redis commands sent together (coalesce), new leases
placed together (placement) and answers reused for a moment (recent). Why each exists, and what
it saved, is in docs/config.md, "The hot path, fenced"; the rest of the role uses them through
its store.
"""
