"""The neutral base every layer may import: errors, offline switches and data directory,
checkpoint reading, the project logger and the written extension contract.

It imports none of the layers (nets, task modules, datamodules, callbacks, cli.py) and
nothing heavier than torch, so importing a net never loads Lightning or matplotlib.
"""
