"""Runs: assembling an experiment, driving it, its progress and its circuit metrics."""
