"""The command groups of `truckguard`: one module per group, each with a `register(sub)` adding its commands."""
