class UserError(Exception):
    """A mistake in the user's input (file, option, recipe key): printed as one line, no traceback."""

    exit_code = 2


class Interrupted(UserError):
    """Ctrl-C, with a line saying what was kept and how to continue."""

    exit_code = 130


def validation_lines(error, schema) -> list[str]:
    """A pydantic ValidationError as one line per problem, "<key path>: <what is wrong>", the same
    way for recipes, algorithm parameters, rollout corrections and benchmarks. `schema` is the model
    that was validated: an unknown key lists the keys allowed where it stood."""
    return [_line(err, schema) for err in error.errors()]


def _line(err: dict, schema) -> str:
    path = ".".join(str(p) for p in err["loc"])
    at = f"{path}: " if path else ""
    if err["type"] == "extra_forbidden":
        return f"{at}unknown key; allowed: {allowed_keys(schema, err['loc'])}"
    if err["type"] == "value_error":  # our own validators: the message says it all
        msg = str(err["ctx"]["error"])
        return msg if path and msg.startswith(path + ".") else at + msg
    if err["type"] == "literal_error":
        return f"{at}got {err['input']!r}; allowed: {err['ctx']['expected'].replace(' or ', ', ')}"
    got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
    return f"{at}{err['msg']}{got}"


def allowed_keys(schema, loc: tuple) -> str:
    """The keys a pydantic model allows at `loc` (the last part is the unknown key)."""
    from pydantic import BaseModel
    model = schema
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        ann = getattr(field, "annotation", None)
        sub = next((a for a in (ann, *getattr(ann, "__args__", ())) if isinstance(a, type)
                    and issubclass(a, BaseModel)), None)
        if sub is None:
            return ""
        model = sub
    return ", ".join(model.model_fields)
