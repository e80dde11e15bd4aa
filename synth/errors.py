"""User-facing errors: one line, naming the file and the problem."""


class SynthError(Exception):
    """A problem with the user's input that the CLI reports in one line, without a traceback.

    Parameters
    ----------
    message : str
        What is wrong, e.g. ``"row 12 contains NaN"``.
    path : str or os.PathLike, optional
        The file the problem is in; it prefixes the message.
    """

    def __init__(self, message, path=None):
        self.path = None if path is None else str(path)
        self.problem = message
        super().__init__(message if path is None else f"{path}: {message}")
