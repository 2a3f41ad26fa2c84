"""Rule errors: every one names where in the rule it is (RULES.md "Errors")."""

from __future__ import annotations


class RuleError(ValueError):
    """A rule that cannot be evaluated. `path` is the node path in the JSON form
    (e.g. `all[2].count.value`; empty for the whole rule)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path or '(rule)'}: {reason}")
        self.path = path
        self.reason = reason


class RuleSyntaxError(RuleError):
    """The text form does not parse: line and column (from 1) and what was expected there."""

    def __init__(self, line: int, column: int, expected: list[str], snippet: str = "") -> None:
        wanted = ", ".join(expected) if expected else "something else"
        reason = f"line {line}, column {column}: expected {wanted}"
        if snippet:
            reason += "\n" + snippet
        super().__init__("", reason)
        self.line = line
        self.column = column
        self.expected = expected


def join(path: str, part: str) -> str:
    """Append a path part: join("all[2]", "count") -> "all[2].count"; parts like "[1]" glue on."""
    if not path:
        return part
    return path + part if part.startswith("[") else f"{path}.{part}"
