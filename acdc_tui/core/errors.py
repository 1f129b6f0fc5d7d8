"""Errors meant for the user: one line naming the problem and the fix, never a traceback."""

# Control characters a file or an argument may carry into a message (a hook name "\n", say), written
# as escapes so that the message stays one line on any terminal.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


class UserError(Exception):
    """Bad input or environment; the CLI prints the message alone and exits non-zero."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(str(message).translate(_ESCAPES), *args)
