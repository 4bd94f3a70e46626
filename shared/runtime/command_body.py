"""A command's HTTP request body, derived from the command itself, so a command is declared once.

A command is a frozen dataclass in a service's application layer; its fields carry their HTTP constraints and
descriptions as ``Annotated[..., Field(...)]`` (plain dataclasses ignore them, pydantic reads them). The request
body is that dataclass minus the fields the request does not carry in its body: the path's ids (``lead_id`` of
``POST /v1/leads/{lead_id}/grade``) and what only the service sets (a reaction's ``order_id``, say). The body's
``to_command(**rest)`` builds the command from the validated body and those fields, without validating again.

A module that annotates endpoints with these bodies declares them for mypy as ``CommandBody[TheCommand]``
(under ``if TYPE_CHECKING:``), since a class made at run time is no type to a static checker.

The generated model keeps the command's name and docstring, so the OpenAPI names the schema after the command
and describes it as the command's docstring does.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, Field, create_model

C = TypeVar("C")


class CommandBody(BaseModel, Generic[C]):
    """The request body of one command (made by :func:`command_body`)."""

    command_type: ClassVar[type[Any]]

    def to_command(self, **rest: Any) -> C:
        """The command: this body's fields plus ``rest`` (the path's ids, the service's own fields)."""
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        command: C = self.command_type(**fields, **rest)
        return command


def command_body(command: type[C], *, path: tuple[str, ...] = (),
                 internal: tuple[str, ...] = ()) -> type[CommandBody[C]]:
    """The request body model of ``command``: every field but those in ``path`` (from the URL) and ``internal``
    (set by the service, never by a client; they must have defaults unless the endpoint supplies them)."""
    if not dataclasses.is_dataclass(command):
        raise TypeError(f"{command.__name__} is not a dataclass")
    hints = typing.get_type_hints(command, include_extras=True)
    names = {f.name for f in dataclasses.fields(command)}
    unknown = (set(path) | set(internal)) - names
    if unknown:
        raise TypeError(f"{command.__name__} has no field {', '.join(sorted(unknown))}")
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(command):
        if f.name in path or f.name in internal:
            continue
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hints[f.name], ...)
    # @dataclass writes its signature as the docstring of a class without one: not a description.
    doc = command.__doc__ if command.__doc__ and not command.__doc__.startswith(f"{command.__name__}(") else None
    model = create_model(command.__name__, __base__=CommandBody, __doc__=doc, __module__=command.__module__,
                         **fields)
    model.command_type = command
    return cast("type[CommandBody[C]]", model)
