"""The run machinery: run directories, checkpoint writing, preemption, resume state, launch environment.

The one room of the project that may name a private attribute or module of Lightning, torch, torchmetrics or any
other library; each such name is pinned by ``tests/test_runtime_private_api.py``, so a library upgrade fails there,
by name. Task modules and datamodules never import it (import-linter contracts in ``pyproject.toml``).
"""
