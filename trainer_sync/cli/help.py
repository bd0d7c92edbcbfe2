"""Help text as administrators expect it of a command line.

This typer release writes a value type after every option, `<bool>` after flags too (which
take no value), and shows a required argument as `{path}` in the usage line. Here flags get
no type, and arguments read as click has always shown them: `PATH`, or `[PATH]` when
optional. Only the help text changes; parsing is typer's own. A typer without these hooks
is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typer import core


def _without_type_for_flags(display_type: Callable[..., str | None]) -> Callable[..., str | None]:
    def display_type_rich(option: Any, ctx: Any) -> str | None:
        return None if option.is_flag else display_type(option, ctx=ctx)

    return display_type_rich


def _usage_name(argument: Any) -> str:
    name = argument.metavar or str(argument.name).upper()
    if argument.nargs != 1:
        name += "..."
    return name if argument.required else f"[{name}]"


def fix_typer_help() -> None:
    """Apply the help-text fixes above (idempotent)."""
    option_type = getattr(core.TyperOption, "display_type_rich", None)
    if option_type is not None and not getattr(option_type, "_flags_fixed", False):
        fixed = _without_type_for_flags(option_type)
        setattr(fixed, "_flags_fixed", True)  # noqa: B010
        setattr(core.TyperOption, "display_type_rich", fixed)  # noqa: B010
    if hasattr(core.TyperArgument, "_usage_display_name"):
        setattr(core.TyperArgument, "_usage_display_name", _usage_name)  # noqa: B010
