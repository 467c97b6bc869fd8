"""The one error of ``posturepod flash``: every step (board profiles, mpy-cross, the serial
link, the board's answers, the firmware's first message) raises DeployError, with a message
that names the thing that failed and says what to do about it."""


class DeployError(Exception):
    """A flash step failed; the message says what and what to do."""
