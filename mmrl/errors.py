class UserError(Exception):
    """A mistake in the user's input (file, option, recipe key): printed as one line, no traceback."""
