"""The command line: argument parsing, commands, the headless sink."""
