"""The worker role: Dramatiq jobs. Reaches other roles' data only through their HTTP APIs."""
