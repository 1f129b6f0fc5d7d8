"""acdc-tui: Automatic Circuit DisCovery with a terminal explorer and a headless mode."""

__version__ = "0.1.0"
