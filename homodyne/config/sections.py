"""Typed, immutable configuration sections, generated from :data:`.schema.SCHEMA`.

Each section of the schema is a frozen dataclass (``config.mcmc.draws``) that can also
be read like a mapping (``config.mcmc["draws"]``, ``dict(config.mcmc)``), so that code
written against dict sections keeps working, while nothing can change a validated
configuration in place: a changed configuration is a new one, made by
:meth:`homodyne.config.Config.with_overrides` (which validates it like a file).

The ``mcmc`` section is :class:`homodyne.bayes.settings.MCMCSettings`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .schema import SCHEMA

__all__ = ["SECTION_TYPES", "MCMCSection", "OutputSection", "Section"]


class Section(Mapping[str, Any]):
    """Base of the typed sections: a frozen dataclass, readable as a mapping."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:  # only reached for unknown names
        raise AttributeError(f"{type(self).__name__} has no key {name!r}")

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)

    def to_dict(self) -> dict[str, Any]:
        """The section as plain JSON data (a deep copy)."""
        return {k: copy.deepcopy(getattr(self, k)) for k in self}


def _class_name(section: str) -> str:
    special = {"mcmc": "MCMC"}
    return "".join(special.get(w, w.capitalize()) for w in section.split("_")) + "Section"


def _copier(default: Any) -> Callable[[], Any]:
    return lambda: copy.deepcopy(default)


def _make(section: str) -> type[Section]:
    fields = [
        (key, Any, dataclasses.field(default_factory=_copier(f.default)))
        for key, f in SCHEMA[section].items()
    ]
    name = _class_name(section)
    cls = dataclasses.make_dataclass(name, fields, bases=(Section,), frozen=True, eq=False)
    cls.__module__ = __name__  # importable by name: sections pickle (worker processes)
    cls.__doc__ = (
        f"The ``{section}`` section of a configuration (keys: {', '.join(SCHEMA[section])})."
    )
    globals()[name] = cls
    return cls


#: Section name → its typed class (``DataSection``, ..., ``MCMCSection``, ``OutputSection``).
SECTION_TYPES: dict[str, type[Section]] = {name: _make(name) for name in SCHEMA}
MCMCSection = SECTION_TYPES["mcmc"]
OutputSection = SECTION_TYPES["output"]
