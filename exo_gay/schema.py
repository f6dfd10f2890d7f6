"""Input documents checked by pydantic models: every problem as one "place: what is wrong".

Places are written as a reader finds them in the file: ``ranges[1].count``, ``peers.a.port``;
``$`` is the document itself.  Models say what a field is; the messages say it in words.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def place(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's mark for a problem with a dict's key rather than its value
            continue
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "$"


def check(model: type[M], doc: Any, problems: list[str], where: tuple = (),
          known: Iterable[str] | None = None) -> M | None:
    """``doc`` as ``model``, or None with each problem of its fields added to ``problems``."""
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        problems.extend(_problem(where + tuple(err["loc"]), err, known or model.model_fields)
                        for err in e.errors(include_url=False))
        return None


def _problem(loc: tuple, err: Any, known: Iterable[str]) -> str:
    kind, where = err["type"], place(loc)
    if kind == "missing":
        return f"{where}: missing"
    if kind == "extra_forbidden":
        return f"{where}: unknown key (known: {', '.join(known)})"
    if kind in ("model_type", "dict_type"):
        return f"{where}: expected an object, got {json.dumps(err['input'], default=repr)}"
    if kind == "value_error":
        return f"{where}: {err['ctx']['error']}"
    msg = err["msg"]
    return f"{where}: {msg[0].lower()}{msg[1:]}, got {json.dumps(err['input'], default=repr)}"
