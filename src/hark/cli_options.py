"""Turn pydantic option models into typer/click flags, so each option is declared once."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo


def option_parameters(
    model: type[BaseModel], *, skip: set[str] = frozenset()
) -> list[inspect.Parameter]:
    """One keyword parameter per model field, typed for typer, defaulting to "not given".

    Complex values (lists, literals) are taken as strings and parsed by the model itself, so
    the CLI, HTTP form fields and the Python API share one set of rules and error messages.
    """
    params = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        cli_type, decls = _cli_type(info, flag)
        panel = (
            (info.json_schema_extra or {}).get("group")
            if isinstance(info.json_schema_extra, dict)
            else None
        )
        option = typer.Option(
            *decls, help=_help(info), rich_help_panel=str(panel or "Options"), show_default=False
        )
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[cli_type, option],
            )
        )
    return params


def given(values: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The option values the user actually set on the command line."""
    return {k: v for k, v in values.items() if k in model.model_fields and v is not None}


def _cli_type(info: FieldInfo, flag: str) -> tuple[Any, list[str]]:
    annotation = info.annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        annotation = non_none[0] if len(non_none) == 1 else str
    if annotation is bool:
        return bool | None, [f"{flag}/{flag.replace('--', '--no-', 1)}"]
    if annotation in (int, float, str):
        return annotation | None, [flag]
    return str | None, [flag]  # lists, literals: parsed by the model


def _help(info: FieldInfo) -> str:
    text = info.description or ""
    default = info.get_default(call_default_factory=True)
    if default is not None and default != "":
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        text += f" \\[default: {shown}]"  # escaped: the help is rendered as rich markup
    annotation = info.annotation
    if typing.get_origin(annotation) is typing.Literal:
        text += f" \\[choices: {', '.join(typing.get_args(annotation))}]"
    return text


def parse_formats(values: str | list[str], choices: tuple[str, ...]) -> list[str]:
    """Formats from `-f a,b` and/or `-f a -f b`, checked before any model loads, duplicates
    dropped; "all" is kept (what it covers can depend on the result, e.g. RTTM on speakers)."""
    given = [values] if isinstance(values, str) else values
    wanted = [v.strip().lower() for value in given for v in value.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in (*choices, "all")]
    if unknown or not wanted:
        raise ValueError(
            f"unknown output format {', '.join(unknown) or repr(given)}; use "
            f"{', '.join(choices)} or all (repeat -f or separate with commas)"
        )
    return list(dict.fromkeys(wanted))
