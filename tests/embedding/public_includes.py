"""What a public header may include: another public header (nullspace/…, present
in the same include dir) or a header of the C++ standard library. The list of
standard headers is tools/check-layers' own."""

import importlib.machinery
import importlib.util
import os
import re

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def std_headers(check_layers):
    loader = importlib.machinery.SourceFileLoader("check_layers", check_layers)
    spec = importlib.util.spec_from_loader("check_layers", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.STD_HEADERS


def public_headers(include_dir):
    """The headers of include_dir/nullspace, sorted by name."""
    d = os.path.join(include_dir, "nullspace")
    return sorted(f for f in os.listdir(d) if f.endswith(".hpp"))


def include_problems(include_dir, check_layers):
    """`file:line: <include> …` for every include that is neither."""
    std = std_headers(check_layers)
    public = set(public_headers(include_dir))
    problems = []
    for name in sorted(public):
        path = os.path.join(include_dir, "nullspace", name)
        with open(path) as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                inc = m.group(2)
                ours = inc.startswith("nullspace/") and inc[len("nullspace/"):] in public
                if not ours and inc not in std:
                    problems.append(f"{path}:{lineno}: {inc} is neither a public header "
                                    "(nullspace/…) nor a C++ standard library header")
    return problems
