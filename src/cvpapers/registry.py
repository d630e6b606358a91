"""Every declared pipeline, found by walking ``cvpapers.pipelines``: no table of names is kept by hand.

Each package under ``pipelines/`` must export ``DECLARATION`` (a :class:`~cvpapers.declaration.Declaration`);
one that does not is an error here, so a pipeline cannot be registered without its schema.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from cvpapers.declaration import Declaration, Variant

FLAGSHIP = "ssda_dual_mix"  # what `kedro run` runs without --pipelines


class RegistryError(RuntimeError):
    """A pipeline package that does not declare itself, or two that claim one name."""


@dataclass(frozen=True)
class Registration:
    name: str                # the registered pipeline name (base or variant)
    declaration: Declaration
    variant: Variant


@cache
def declarations() -> dict[str, Declaration]:
    import cvpapers.pipelines as package

    found: dict[str, Declaration] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        declaration = getattr(module, "DECLARATION", None)
        if not isinstance(declaration, Declaration):
            raise RegistryError(
                f"cvpapers.pipelines.{info.name} has no DECLARATION: every pipeline package declares its name, "
                "paper, parameter schema and variants (see cvpapers.declaration)"
            )
        if declaration.name != info.name:
            raise RegistryError(f"cvpapers.pipelines.{info.name} declares the name '{declaration.name}'")
        found[declaration.name] = declaration
    for declaration in found.values():
        unknown = [i for i in declaration.includes if i not in found]
        if unknown:
            raise RegistryError(f"pipeline '{declaration.name}' includes undeclared {unknown}")
    return found


@cache
def registrations() -> dict[str, Registration]:
    out: dict[str, Registration] = {}
    for declaration in declarations().values():
        for name, variant in declaration.registered().items():
            if name in out:
                raise RegistryError(
                    f"'{name}' is registered by both '{out[name].declaration.name}' and '{declaration.name}'"
                )
            out[name] = Registration(name, declaration, variant)
    return out


def resolve(name: str) -> Registration:
    """The registration behind a ``--pipelines`` name (``__default__`` is the flagship)."""
    regs = registrations()
    name = FLAGSHIP if name == "__default__" else name
    if name not in regs:
        raise RegistryError(f"no pipeline named '{name}'; registered: {', '.join(sorted(regs))}")
    return regs[name]


def declarations_to_validate(names: list[str]) -> list[Declaration]:
    """The declarations whose parameters a run of ``names`` reads: each one's includes first."""
    decls = declarations()
    ordered: dict[str, Declaration] = {}
    for name in names:
        declaration = resolve(name).declaration
        for included in declaration.includes:
            ordered.setdefault(included, decls[included])
        ordered.setdefault(declaration.name, declaration)
    return list(ordered.values())
