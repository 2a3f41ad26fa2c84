"""A rule text's size in tokens and its parenthesis depth, measured before lark parses it.

lark's LALR parse is iterative, so no nesting can overflow the stack, but it costs ~5-10 us a token:
a 1 MiB text of `(((...` or `a = 1 and a = 1 and ...` would hold a server thread for seconds only
to be refused afterwards (too deep, too many nodes). Two C-speed passes bound that first:

* tokens: at most MAX_RULE_TOKENS. A rule of MAX_NODES conditions of ~20 tokens each, or four
  `in (...)` lists of MAX_RULE_LIST_VALUES values, stays below it.
* parentheses: at most MAX_PAREN_DEPTH deep. Redundant parentheses are legal and add no level (the
  64-level limit counts nodes, RULES.md); this bound only refuses texts no one writes by hand.

Strings and comments are blanked first, so a "(" inside them counts for nothing.
"""

from __future__ import annotations

import re

import numpy as np

from indexes.rules.errors import RuleError

MAX_RULE_TOKENS = 100_000
MAX_PAREN_DEPTH = 10_000
# A string (the grammar's STRING: no raw newline inside) or a comment, each replaced by one token. An
# unterminated string stops at the line's end: the pattern matches at the first try from every quote,
# so the pass is linear whatever the text.
_STRINGS_AND_COMMENTS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*')
_TOKENS = re.compile(r"[A-Za-z0-9_.\-]+|\S")


def check_text_shape(text: str) -> None:
    """RuleError (path "") when the text has too many tokens or too deep parentheses."""
    skeleton = _STRINGS_AND_COMMENTS.sub("0", text)
    tokens = _TOKENS.subn("", skeleton)[1]
    if tokens > MAX_RULE_TOKENS:
        raise RuleError("", f"more than {MAX_RULE_TOKENS} tokens ({tokens})")
    codes = np.frombuffer(skeleton.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = (codes == ord("(")).astype(np.int32) - (codes == ord(")")).astype(np.int32)
    depth = int(np.cumsum(steps).max(initial=0))
    if depth > MAX_PAREN_DEPTH:
        raise RuleError("", f"parentheses nested {depth} deep; at most {MAX_PAREN_DEPTH}")
