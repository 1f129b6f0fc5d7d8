"""Engines: the only code that runs the model to evaluate the metric for a set of absent edges."""
