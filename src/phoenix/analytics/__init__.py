"""The analytics role (the observer): anonymous, bucketed aggregates only. Imports no SQL driver."""
