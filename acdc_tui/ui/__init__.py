"""The explorer: a Textual UI over the core's step-wise run. Nothing in the core imports this package."""
