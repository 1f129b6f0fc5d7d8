"""Models: building and loading them, hook names, running them with hooks."""
