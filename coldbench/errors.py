"""The project's one error type: caught at the CLI boundary and shown as one line."""


class ColdbenchError(Exception):
    """A user-facing error: bad input, a failed check, an unknown name.

    The message must name the file and line, or the option, that is at fault.
    """
