"""``.dockerignore`` rules, matched exactly as the server matches them
(runtime/request/path_glob.cpp): ``*`` and ``?`` never cross ``/``, ``[...]``
classes (``[!...]``/``[^...]`` negate), ``\\x`` escapes, ``**`` crosses
directories (``**/`` also matches none), ``!`` re-includes, the last matching
rule wins, and a rule matching a directory covers everything inside it.
"""

from __future__ import annotations

__all__ = ["DockerIgnore", "glob_match", "clean_path"]


def _match_class(p: str, c: str) -> tuple[int, bool]:
    # A `[...]` class at the start of `p` (just after '['): its length up to and
    # including ']' (0 if it never closes) and whether `c` is in it.
    i = 0
    negate = i < len(p) and p[i] in "!^"
    if negate:
        i += 1
    found = False
    first = True
    while i < len(p) and (p[i] != "]" or first):
        first = False
        lo = p[i]
        if lo == "\\" and i + 1 < len(p):
            i += 1
            lo = p[i]
        hi = lo
        if i + 2 < len(p) and p[i + 1] == "-" and p[i + 2] != "]":
            hi = p[i + 2]
            if hi == "\\" and i + 3 < len(p):
                i += 1
                hi = p[i + 2]
            i += 2
        if lo <= c <= hi:
            found = True
        i += 1
    if i >= len(p):
        return 0, False
    return i + 1, found != negate


def glob_match(p: str, s: str) -> bool:
    """Whether pattern ``p`` matches all of path ``s`` (both relative, '/'-separated)."""
    while p:
        if p.startswith("**"):
            rest = p.lstrip("*")
            if not rest:
                return True
            if rest[0] == "/":
                after = rest[1:]
                if glob_match(after, s):
                    return True
                return any(s[i] == "/" and glob_match(after, s[i + 1 :]) for i in range(len(s)))
            return any(glob_match(rest, s[i:]) for i in range(len(s) + 1))
        c = p[0]
        if c == "*":
            rest = p[1:]
            for i in range(len(s) + 1):
                if glob_match(rest, s[i:]):
                    return True
                if i < len(s) and s[i] == "/":
                    return False
            return False
        if not s:
            return False
        if c == "?":
            if s[0] == "/":
                return False
            p = p[1:]
        elif c == "[":
            length, inside = _match_class(p[1:], s[0])
            if length == 0:  # an unclosed '[' is an ordinary character
                if s[0] != "[":
                    return False
                p = p[1:]
            else:
                if not inside or s[0] == "/":
                    return False
                p = p[1 + length :]
        else:
            if c == "\\" and len(p) > 1:
                p = p[1:]
                c = p[0]
            if s[0] != c:
                return False
            p = p[1:]
        s = s[1:]
    return not s


def clean_path(p: str) -> str:
    """``./a//b/`` → ``a/b``; a leading ``/`` means the context root."""
    out: list[str] = []
    for part in p.split("/"):
        if part == "..":
            if out:
                out.pop()
        elif part and part != ".":
            out.append(part)
    return "/".join(out)


class DockerIgnore:
    """The rules of one ``.dockerignore`` file."""

    def __init__(self, text: str = "") -> None:
        self.rules: list[tuple[str, bool]] = []  # (pattern, is a `!` re-include)
        for line in text.split("\n"):
            line = line.rstrip("\r \t").lstrip(" \t")
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            if include:
                line = line[1:]
            pattern = clean_path(line)
            if pattern:
                self.rules.append((pattern, include))

    @property
    def has_reincludes(self) -> bool:
        """Whether any rule is a ``!`` line (then an ignored directory must still be walked)."""
        return any(inc for _, inc in self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def ignores(self, path: str) -> bool:
        """Whether ``path`` (relative, normalized) is excluded."""
        ignored = False
        for pattern, include in self.rules:
            hit = glob_match(pattern, path) or any(
                path[i] == "/" and glob_match(pattern, path[:i]) for i in range(len(path))
            )
            if hit:
                ignored = not include
        return ignored
