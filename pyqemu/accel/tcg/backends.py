"""The IR backends by name, for every front end's `-tcg-backend` option."""

from __future__ import annotations

TCG_BACKENDS = ("interp", "pycodegen", "llvm")
DEFAULT_BACKEND = "llvm"      # native code for hot blocks (cold ones run through pycodegen); interp is the reference


def make_backend(name: str = DEFAULT_BACKEND):
    """The reference interpreter, Python code generation, or native code through LLVM."""
    if name == "llvm":
        from .llvm_engine import LLVMBackend
        return LLVMBackend()
    if name == "pycodegen":
        from .pycodegen import PyCodegenBackend
        return PyCodegenBackend()
    if name == "interp":
        from .interp import InterpBackend
        return InterpBackend()
    raise ValueError(f"unknown TCG backend {name!r} (available: {', '.join(TCG_BACKENDS)})")
