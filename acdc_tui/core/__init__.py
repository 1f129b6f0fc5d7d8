"""Pure ACDC: the graph, the step loop, its events, metrics and the user-error type. No model code, no UI."""
