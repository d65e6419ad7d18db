"""Commands beside the Lightning subcommands (``python cli.py compare ...``) and their report helpers.

Commands sit above callbacks in the layering: they may import callbacks, task modules and nets,
and nothing but ``cli.py`` imports them.
"""
