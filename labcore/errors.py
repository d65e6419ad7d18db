"""Errors that the CLI reports as one line naming the fix, never as a traceback."""


class LabError(Exception):
    """Bad input (data, option, config): the message says what to pass instead."""


class DataSourceError(LabError):
    """A data set could not be found, read or downloaded."""
