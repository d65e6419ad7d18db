"""``torch.compile`` for the task module's nets, switched on by one entry in a config's ``trainer.callbacks``
(``- class_path: callbacks.CompileNet``) or on the command line (``--trainer.callbacks+=callbacks.CompileNet``)."""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from labcore import log
from labcore.errors import LabError

DEFAULT_MODULES = ["net"]


class CompileNet(Callback):
    """Compiles the named submodules of the task module IN PLACE (``nn.Module.compile``) in ``setup``.

    In place, the module keeps its class and its parameters' names: ``state_dict`` keys carry no
    ``_orig_mod.`` prefix, so checkpoints written with and without compiling load into each other, and
    callbacks that look layers up by name (``net.layers.1``) still find them. Compiling happens lazily
    at the first forward (the first steps are slow); a new input shape may compile again (``dynamic``).
    Dynamo does not trace ``nn.RNN`` / ``LSTM`` / ``GRU``: those layers, or the whole forward, run eager (a
    warning says so). Dropout under compile draws other random numbers than eager (same distribution).

    Args:
        modules: attribute paths on the task module (``net``; a GAN's ``generator`` / ``discriminator``;
            ``net.encoder``). With the default ``["net"]`` on a task module that has no ``net`` (GAN,
            CycleGAN), every direct child module holding parameters is compiled instead (logged).
        mode: ``torch.compile`` mode (None: ``default``; ``reduce-overhead`` (CUDA graphs), ``max-autotune``).
        dynamic: ``torch.compile``'s ``dynamic`` (None: compile static first, dynamic after a shape change).
        fullgraph: fail on graph breaks instead of falling back to eager for those parts.
        backend: ``torch.compile`` backend (``inductor``; ``aot_eager`` traces without generating code).
    """

    def __init__(
        self,
        modules: list[str] = DEFAULT_MODULES,  # noqa: B006 - jsonargparse needs a literal default
        mode: str | None = None,
        dynamic: bool | None = None,
        fullgraph: bool = False,
        backend: str = "inductor",
    ) -> None:
        if not modules:
            raise LabError(
                "CompileNet: modules is empty; pass --trainer.callbacks.init_args.modules [net] (or drop it)"
            )
        self.modules, self.mode, self.dynamic, self.fullgraph, self.backend = (
            list(modules),
            mode,
            dynamic,
            fullgraph,
            backend,
        )

    def targets(self, pl_module: LightningModule) -> dict[str, nn.Module]:
        """``{path: module}`` of what to compile (see ``modules``); a missing path is a one-line error."""
        if self.modules == DEFAULT_MODULES and not isinstance(getattr(pl_module, "net", None), nn.Module):
            found = {
                name: child for name, child in pl_module.named_children() if next(child.parameters(), None) is not None
            }
            if not found:
                raise LabError(
                    f"CompileNet: {type(pl_module).__name__} has no net and no child module with parameters; "
                    "pass --trainer.callbacks.init_args.modules with the paths to compile"
                )
            log.info(f"CompileNet: {type(pl_module).__name__} has no net; compiling {', '.join(found)}")
            return found
        out = {}
        for path in self.modules:
            try:
                module = pl_module.get_submodule(path)
            except AttributeError:
                children = [n for n, _ in pl_module.named_children()]
                raise LabError(
                    f"CompileNet: {type(pl_module).__name__} has no module {path!r}; pass "
                    f"--trainer.callbacks.init_args.modules with paths among {children}"
                ) from None
            out[path] = module
        return out

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for path, module in self.targets(pl_module).items():
            if getattr(module, "_compiled_call_impl", None) is not None:
                continue  # fit then test in one process: compiled once
            rnns = sorted({type(m).__name__ for m in module.modules() if isinstance(m, nn.RNNBase)})
            if rnns:  # Dynamo breaks the graph at each (or skips the whole forward): little or nothing is compiled
                log.warn(
                    f"CompileNet: {path} holds {', '.join(rnns)}, which torch.compile does not trace; "
                    "those layers (or the whole forward) run eager: expect no speed-up"
                )
            module.compile(mode=self.mode, dynamic=self.dynamic, fullgraph=self.fullgraph, backend=self.backend)
            log.info(f"CompileNet: {path} compiled in place (mode {self.mode or 'default'}, backend {self.backend})")
