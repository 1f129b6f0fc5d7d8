"""acdc-tui: Automatic Circuit DisCovery with a terminal explorer and a headless mode."""

from acdc_tui import threads

threads.configure_before_torch()  # before anything imports torch: every entry point imports this package first

__version__ = "0.1.0"
