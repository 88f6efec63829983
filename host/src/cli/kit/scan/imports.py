"""Which host interfaces a Python step project's code uses, from its syntax: `flowbox.X` on a
name bound to the flowbox module, `from flowbox import X`, `import flowbox.X`, and `requests`
(which is flowbox.http). Prints them space-separated; `log` is always one (print() writes to it).
Run as `python -c "$(cat imports.py)" FILE.py...`.
"""

import ast
import sys

INTERFACES = {"log", "variables", "records", "files", "teams", "email", "http", "llm", "audio", "clock"}
# Names of the flowbox package that reach an interface under another name.
ALIASES = {"now": "clock", "now_millis": "clock", "Record": "records", "requests": "http"}


def interface(name):
    return ALIASES.get(name, name)


used = {"log"}
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        tree = ast.parse(source, path)
    except SyntaxError as e:
        sys.exit(f"{path}:{e.lineno}: {e.msg}")
    modules = set()  # names the flowbox module is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                top, _, rest = a.name.partition(".")
                if top == "flowbox":
                    if rest:
                        used.add(interface(rest.split(".")[0]))
                    modules.add(a.asname if a.asname and not rest else "flowbox")
                elif top == "requests":
                    used.add("http")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top, _, rest = node.module.partition(".")
            if top == "flowbox":
                if rest:
                    used.add(interface(rest.split(".")[0]))
                else:
                    used.update(interface(a.name) for a in node.names)
            elif top == "requests":
                used.add("http")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            used.add(interface(node.attr))
print(" ".join(sorted(used & INTERFACES)))
