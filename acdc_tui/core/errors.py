"""Errors meant for the user: one line naming the problem and the fix, never a traceback."""


class UserError(Exception):
    """Bad input or environment; the CLI prints the message alone and exits non-zero."""
