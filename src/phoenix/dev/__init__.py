"""Development tooling: `phoenix dev up` (what `make dev` runs), and the process launcher the
test harness shares with it. Nothing that ships to production imports this package
(importlinter.ini: no role imports the development tooling)."""
