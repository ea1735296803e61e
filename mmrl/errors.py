class UserError(Exception):
    """A mistake in the user's input (file, option, recipe key): printed as one line, no traceback."""

    exit_code = 2


class Interrupted(UserError):
    """Ctrl-C, with a line saying what was kept and how to continue."""

    exit_code = 130
