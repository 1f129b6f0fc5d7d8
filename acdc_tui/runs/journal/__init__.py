"""The run journal: one SQLite file per run (or sweep) that records what the run is, every event and
every command, as it goes. The run process writes it; any number of readers follow it; clients send
commands through it; replaying it rebuilds any past state without evaluating the model.

The schema is documented in docs/journal-schema.md and in schema.py.
"""
