"""Rule errors: every one names where in the rule it is (RULES.md "Errors")."""

from __future__ import annotations

# How an empty path (the whole rule) reads in a message; `RuleError.path` itself stays "".
ROOT_LABEL = "(root)"


class RuleError(ValueError):
    """A rule that cannot be evaluated.

    `path` is the node path in the JSON form (`all[2].count.value`, `any[0].not.where[1].value`);
    "" means the whole rule. `reason` says what is wrong there.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path or ROOT_LABEL}: {reason}")
        self.path = path
        self.reason = reason


class RuleSyntaxError(RuleError):
    """The text form does not parse: line and column (from 1) and what was expected there.

    `expected` holds plain-word descriptions ("a whole number", "'days'"); `snippet` is the
    offending line with a caret under the column, so a CLI can print the message as is.
    """

    def __init__(
        self,
        line: int,
        column: int,
        expected: list[str],
        snippet: str = "",
        found: str | None = None,
    ) -> None:
        wanted = ", ".join(expected) if expected else "something else"
        reason = f"line {line}, column {column}: expected {wanted}"
        if found is not None:
            reason += f", found {found}"
        if snippet:
            reason += "\n" + snippet
        super().__init__("", reason)
        self.line = line
        self.column = column
        self.expected = expected
        self.snippet = snippet
        self.found = found


def join(path: str, part: str) -> str:
    """Append a path part: join("all[2]", "count") -> "all[2].count"; parts like "[1]" glue on."""
    if not path:
        return part
    if not part:
        return path
    return path + part if part.startswith("[") else f"{path}.{part}"
