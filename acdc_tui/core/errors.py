"""Errors meant for the user: one line naming the problem and the fix, never a traceback."""

# Control characters a file or an argument may carry into a message (a hook name "\n", say), written
# as escapes so that the message stays one line on any terminal.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


class UserError(Exception):
    """Bad input or environment; the CLI prints the message alone and exits non-zero."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(str(message).translate(_ESCAPES), *args)


class UserErrors(UserError):
    """Several problems found at once (rows of a prompts file, say): the CLI prints each as its own
    line; elsewhere the message is the first problem and how many more there are."""

    def __init__(self, problems: list[str], limit: int = 20) -> None:
        lines = [str(p).translate(_ESCAPES) for p in problems]
        shown = lines[:limit] + ([f"... and {len(lines) - limit} more problems"] if len(lines) > limit else [])
        first = lines[0] + (f" (and {len(lines) - 1} more problems)" if len(lines) > 1 else "")
        super().__init__(first)
        self.lines = shown
