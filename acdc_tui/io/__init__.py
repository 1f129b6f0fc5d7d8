"""Files in and out: circuit JSON, Graphviz DOT, the reference-format log lines."""
