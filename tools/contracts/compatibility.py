"""Which changes to a published JSON Schema break a subscriber (:func:`check_compatible`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tools.contracts.schemas import JSONObject

_MIN_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_MAX_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_EXACT_CONSTRAINTS = ("pattern", "multipleOf")
_MAX_DEPTH = 64


def check_compatible(old_schema: Mapping[str, Any], new_schema: Mapping[str, Any]) -> list[str]:
    """Human-readable list of the changes from ``old_schema`` to ``new_schema`` that break a subscriber (empty
    when the new schema is a compatible evolution of the old one).

    Breaking, because a consumer built on the old schema rejects new messages or a consumer replaying old
    messages with the new model rejects them: a property removed; a property's type or format changed
    (including becoming nullable or no longer nullable); a property newly required (new or formerly optional);
    a required property made optional; allowed values narrowed (an enum losing values, a const or enum added);
    a length/range/pattern constraint added or tightened. Compatible: new optional properties, new enum values,
    relaxed constraints, changed titles, descriptions and defaults. Local ``$ref``s (``#/$defs/...``) are
    followed, so nested models are compared field by field and renaming a nested model alone is not breaking.
    """
    problems: list[str] = []
    _compare(dict(old_schema), dict(new_schema), "", _Roots(dict(old_schema), dict(new_schema)), problems, set(), 0)
    return problems


class _Roots:
    __slots__ = ("new", "old")

    def __init__(self, old: JSONObject, new: JSONObject) -> None:
        self.old = old
        self.new = new


def _resolve(schema: JSONObject, root: JSONObject) -> JSONObject:
    """Follow local references (``#/...``) and single-branch ``anyOf``/``oneOf``/``allOf`` wrappers; an external
    or dangling reference is returned as is."""
    for _ in range(_MAX_DEPTH):
        for keyword in ("anyOf", "oneOf", "allOf"):
            wrapped = schema.get(keyword)
            if isinstance(wrapped, list) and len(wrapped) == 1 and isinstance(wrapped[0], dict):
                schema = wrapped[0]
                break
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            return schema
        target: Any = root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                return schema
            target = target[part]
        if not isinstance(target, dict):
            return schema
        schema = target
    return schema


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _branches(schema: JSONObject) -> list[Any] | None:
    for keyword in ("anyOf", "oneOf"):
        value = schema.get(keyword)
        if isinstance(value, list):
            return value
    value = schema.get("allOf")
    if isinstance(value, list) and len(value) == 1:
        return value
    return None


def _kind(schema: Any, root: JSONObject, depth: int = 0) -> str:
    """A readable type description without formats and constraints: ``string``, ``null | string``,
    ``array of object``, ``map of integer``, ``tuple (integer, string)``, ``any``."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return "any"
    schema = _resolve(schema, root)
    if "$ref" in schema:
        return f"reference {schema['$ref']}"
    branches = _branches(schema)
    if branches is not None:
        return " | ".join(sorted({_kind(b, root, depth + 1) for b in branches}))
    declared = schema.get("type")
    if declared is None:
        values = _allowed_values(schema)
        if values is None:
            return "any"
        types = sorted({_json_type(v) for v in values})
    else:
        types = [declared] if isinstance(declared, str) else sorted(declared)
    parts: list[str] = []
    for name in types:
        if name == "array" and isinstance(schema.get("prefixItems"), list):
            inner = ", ".join(_kind(item, root, depth + 1) for item in schema["prefixItems"])
            parts.append(f"tuple ({inner})")
        elif name == "array" and isinstance(schema.get("items"), dict):
            parts.append(f"array of {_kind(schema['items'], root, depth + 1)}")
        elif (name == "object" and isinstance(schema.get("additionalProperties"), dict)
              and not schema.get("properties")):
            parts.append(f"map of {_kind(schema['additionalProperties'], root, depth + 1)}")
        else:
            parts.append(name)
    return " | ".join(sorted(parts))


def _allowed_values(schema: JSONObject) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _label(path: str) -> str:
    return f"property '{path}'" if path else "the payload"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _compare(
    old: JSONObject, new: JSONObject, path: str, roots: _Roots, problems: list[str],
    seen: set[tuple[int, int]], depth: int,
) -> None:
    old = _resolve(old, roots.old)
    new = _resolve(new, roots.new)
    # Each pair of (sub)schemas is compared once: this ends recursive models, and a nested model used in several
    # places is reported at the first of them.
    visit = (id(old), id(new))
    if visit in seen or depth > _MAX_DEPTH:
        return
    seen.add(visit)
    where = _label(path)

    if "$ref" in old or "$ref" in new:  # references this function cannot follow (external or dangling)
        if old.get("$ref") != new.get("$ref"):
            problems.append(f"{where} now refers to {new.get('$ref', 'an inline schema')} "
                            f"instead of {old.get('$ref', 'an inline schema')}")
        return
    old_kind, new_kind = _kind(old, roots.old), _kind(new, roots.new)
    if old_kind != new_kind:
        problems.append(f"{where} changed type from {old_kind} to {new_kind}")
        return
    if old.get("format") != new.get("format"):
        problems.append(
            f"{where} changed format from {old.get('format') or '(none)'} to {new.get('format') or '(none)'}"
        )
    _compare_values(old, new, where, problems)
    _compare_constraints(old, new, where, problems)

    old_branches, new_branches = _branches(old), _branches(new)
    if old_branches is not None and new_branches is not None:
        unmatched = list(new_branches)
        for branch in old_branches:
            kind = _kind(branch, roots.old)
            match = next((b for b in unmatched if _kind(b, roots.new) == kind), None)
            if isinstance(branch, dict) and isinstance(match, dict):
                unmatched.remove(match)
                _compare(branch, match, path, roots, problems, seen, depth + 1)
        return

    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        _compare(old["items"], new["items"], f"{path}[]", roots, problems, seen, depth + 1)
    old_tuple, new_tuple = old.get("prefixItems"), new.get("prefixItems")
    if isinstance(old_tuple, list) and isinstance(new_tuple, list):
        for index, (a, b) in enumerate(zip(old_tuple, new_tuple, strict=False)):
            if isinstance(a, dict) and isinstance(b, dict):
                _compare(a, b, f"{path}[{index}]", roots, problems, seen, depth + 1)
    old_values, new_values = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_values, dict) and isinstance(new_values, dict):
        _compare(old_values, new_values, f"{path}{{}}", roots, problems, seen, depth + 1)
    _compare_properties(old, new, path, roots, problems, seen, depth)


def _compare_properties(
    old: JSONObject, new: JSONObject, path: str, roots: _Roots, problems: list[str],
    seen: set[tuple[int, int]], depth: int,
) -> None:
    old_props: JSONObject = old.get("properties") or {}
    new_props: JSONObject = new.get("properties") or {}
    old_required = set(old.get("required") or ())
    new_required = set(new.get("required") or ())
    prefix = f"{path}." if path else ""
    for name in old_props:
        if name not in new_props:
            problems.append(f"{_label(prefix + name)} was removed")
    for name in sorted(new_required - old_required):
        if name in old_props:
            problems.append(f"{_label(prefix + name)} became required (messages without it were valid)")
        else:
            problems.append(f"{_label(prefix + name)} was added as a required property")
    for name in sorted(old_required - new_required):
        if name in new_props:
            problems.append(f"{_label(prefix + name)} is no longer required (consumers rely on it)")
    for name, old_prop in old_props.items():
        new_prop = new_props.get(name)
        if isinstance(old_prop, dict) and isinstance(new_prop, dict):
            _compare(old_prop, new_prop, prefix + name, roots, problems, seen, depth + 1)


def _compare_values(old: JSONObject, new: JSONObject, where: str, problems: list[str]) -> None:
    old_values, new_values = _allowed_values(old), _allowed_values(new)
    if new_values is None:
        return
    if old_values is None:
        problems.append(f"{where} is now restricted to the values {_json(new_values)}")
        return
    dropped = [v for v in old_values if v not in new_values]
    if dropped:
        problems.append(f"{where} no longer allows the values {_json(dropped)} (enum narrowed)")


def _compare_constraints(old: JSONObject, new: JSONObject, where: str, problems: list[str]) -> None:
    for keyword in (*_MIN_BOUNDS, *_MAX_BOUNDS, *_EXACT_CONSTRAINTS):
        if keyword not in new or old.get(keyword) == new[keyword]:
            continue
        before, after = old.get(keyword), new[keyword]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (before, after))
        relaxed = numbers and (
            (keyword in _MIN_BOUNDS and after < before) or (keyword in _MAX_BOUNDS and after > before)
        )
        if not relaxed:
            was = "unset" if before is None else _json(before)
            problems.append(f"{where} constraint {keyword} tightened from {was} to {_json(after)}")
