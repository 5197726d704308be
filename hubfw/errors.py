"""The one exception family the CLI turns into a single clear line and a non-zero exit."""


class HubfwError(Exception):
    """A user-facing failure: its message is one line that says what is wrong and where."""

    exit_code = 1
