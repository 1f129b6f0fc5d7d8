"""One module per command, each with `register(subparsers)` (its options) and `run(args)` (its exit
status). `cli/main.py` assembles them; the explorer (no command) is `explore`."""
