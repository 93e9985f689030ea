#!/usr/bin/env python3
"""Fails when the core's top-level modules import each other in a circle.

The core (everything under src/ except src/edge and src/bin) is meant to form
layers: util at the bottom, then document, state, condition, signals, ...,
rules, experiments, classify, export, and the per-page pipeline on top. A
circle between two top-level modules means a shared piece belongs lower down.

Reads every .rs file of the core, blanks comments and string literals, skips
items under #[cfg(test)] (inline `mod tests { ... }` and `mod tests;` files),
and collects the top-level modules a file names through `crate::a`,
`crate::{a, b::c}` and `super::` paths that climb to the crate root.
It also lists circles between sibling modules inside one top-level module, at
any depth (e.g. counters/batch.rs <-> counters/shard.rs), which fail the check too.

Usage: python3 tools/import_cycles.py [--self-test] [--graph] [SRC_DIR]
  --self-test  first checks the parser on small fixtures (make lint does)
  --graph      prints each module's layer and what it imports
"""

import os
import re
import sys

EXCLUDED = {"edge", "bin"}
ROOT_FILES = {"lib.rs", "main.rs"}


def blank(text):
    """Replaces comments and the insides of string and char literals with
    spaces (newlines kept), so that paths in docs or messages do not count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif re.match(r'(b?r#*")', text[i:i + 300]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'(b?r)(#*)"', text[i:])
            end = '"' + m.group(2)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('"' + re.sub(r"[^\n]", " ", text[i + 1:j]) + '"')
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_test_items(text):
    """Removes items marked #[cfg(test)]; returns (text, names of `mod x;` test files)."""
    test_files = set()
    attr = re.compile(r"#\[cfg\((?:all\()?\s*test\b[^\]]*\]")
    while True:
        m = attr.search(text)
        if not m:
            return text, test_files
        j = m.end()
        # Further attributes on the same item.
        while True:
            k = re.match(r"\s*#\[[^\]]*\]", text[j:])
            if not k:
                break
            j += k.end()
        decl = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text[j:])
        if decl:
            test_files.add(decl.group(1))
            end = j + decl.end()
        else:
            end, depth = j, 0
            while end < len(text):
                ch = text[end]
                end += 1
                if ch == ";" and depth == 0:
                    break
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        break
        text = text[: m.start()] + re.sub(r"[^\n]", " ", text[m.start():end]) + text[end:]


def group_heads(text, start):
    """The first name of each item of the `{...}` group opening at `start`."""
    depth, item, heads, i = 0, "", [], start
    while i < len(text):
        ch = text[i]
        if ch == "{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                heads.append(item)
                break
        if ch == "," and depth == 1:
            heads.append(item)
            item = ""
        elif depth >= 1:
            item += ch
        i += 1
    names = []
    for h in heads:
        m = re.match(r"\s*(\w+)", h)
        if m:
            names.append(m.group(1))
    return names


def module_path(rel):
    """src-relative file path -> module path: rules/compile/mod.rs -> [rules, compile]."""
    parts = rel[:-3].split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts


def references(text, path):
    """Absolute module paths (as lists, first element a top-level name) that the text names."""
    refs = []
    for m in re.finditer(r"\b(crate|super(?:\s*::\s*super)*|self)\s*::", text):
        head = m.group(1)
        if head == "crate":
            base = []
        elif head == "self":
            base = list(path)
        else:
            ups = head.count("super")
            if ups > len(path):
                continue
            base = list(path[: len(path) - ups])
        # The rest of the path: `a::b::c`, possibly ending in a `{...}` group.
        i, names = m.end(), []
        while True:
            k = re.match(r"\s*(\w+|\{)", text[i:])
            if not k:
                break
            if k.group(1) == "{":
                for name in group_heads(text, i + k.start(1)):
                    refs.append(base + names + ([name] if name != "self" else []))
                names = None
                break
            if k.group(1) in ("self", "super"):
                names = None
                break
            names.append(k.group(1))
            i += k.end()
            sep = re.match(r"\s*::", text[i:])
            if not sep:
                break
            i += sep.end()
        if names:
            refs.append(base + names)
    return refs


def collect(src):
    files = {}
    for dirpath, _, names in os.walk(src):
        for f in names:
            if f.endswith(".rs"):
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, src).replace(os.sep, "/")
                files[rel] = open(full, encoding="utf-8", errors="replace").read()
    # Files that are #[cfg(test)] modules of another file.
    test_only = set()
    cleaned = {}
    for rel, text in files.items():
        body, tests = skip_test_items(blank(text))
        cleaned[rel] = body
        here = module_path(rel)
        folder = "/".join(here)
        for t in tests:
            for cand in (f"{folder}/{t}.rs", f"{folder}/{t}/mod.rs"):
                test_only.add(cand)
    # Test modules of test modules.
    changed = True
    while changed:
        changed = False
        for rel in list(test_only):
            prefix = "/".join(module_path(rel)) + "/"
            for other in files:
                if other.startswith(prefix) and other not in test_only:
                    test_only.add(other)
                    changed = True
    tops = set()
    for rel in files:
        parts = rel.split("/")
        if rel in ROOT_FILES:
            continue
        top = parts[0][:-3] if len(parts) == 1 else parts[0]
        if top not in EXCLUDED:
            tops.add(top)
    modules = {tuple(module_path(rel)) for rel in files if rel not in ROOT_FILES}
    # Names the crate root re-exports (`pub use util::duration;` in lib.rs)
    # stand for the module they come from.
    alias = {}
    for m in re.finditer(r"\bpub\s+use\s+(\w+)\s*::\s*(\w+)\s*;", cleaned.get("lib.rs", "")):
        if m.group(1) in tops:
            alias[m.group(2)] = m.group(1)
    top_edges, sub_edges = {}, {}
    for rel, body in cleaned.items():
        if rel in ROOT_FILES or rel in test_only:
            continue
        path = module_path(rel)
        top = path[0]
        if top not in tops:
            continue
        for ref in references(body, path):
            if not ref:
                continue
            target = alias.get(ref[0], ref[0])
            if target != top:
                if target in tops:
                    top_edges.setdefault(top, {}).setdefault(target, set()).add(rel)
            else:
                # Inside one top-level module: an edge between the two sibling
                # modules under the deepest module the paths share.
                k = 0
                while k < min(len(path), len(ref)) and path[k] == ref[k]:
                    k += 1
                if k < len(path) and k < len(ref):
                    a, b = tuple(path[: k + 1]), tuple(ref[: k + 1])
                    if b in modules:
                        sub_edges.setdefault("/".join(a), {}).setdefault("/".join(b), set()).add(rel)
    return tops, top_edges, sub_edges


def cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    nodes = set(edges) | {w for v in edges.values() for w in v}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def layers(tops, edges):
    """Each module's layer: 0 for modules that import no other, else 1 + the highest below."""
    level = {}

    def depth(v, seen=()):
        if v in level:
            return level[v]
        if v in seen:
            return 0
        below = [depth(w, seen + (v,)) for w in edges.get(v, ())]
        level[v] = 1 + max(below) if below else 0
        return level[v]

    for t in tops:
        depth(t)
    return level


def self_test():
    """The parser on fixtures: groups, super paths, comments, strings, test items."""
    import tempfile

    cases = {
        "a.rs": "use crate::{b, c::X};\n// crate::d in a comment\nconst S: &str = \"crate::d\";\n",
        "b/mod.rs": "mod inner;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nmod more {\n    use crate::a;\n}\n",
        "b/inner.rs": "use super::super::c::Y;\nfn f<'a>(x: &'a str) -> char { 'x' }\n",
        "b/tests.rs": "use crate::a;\n",
        "c.rs": "#[cfg(test)]\nuse crate::a;\npub struct X;\npub struct Y;\n",
        "d.rs": "use crate::e::f::{self, G};\n",
        "e/mod.rs": "pub mod f;\npub mod g;\n",
        "e/f.rs": "use super::g::H;\npub struct G;\n",
        "e/g.rs": "use crate::e::f::G;\npub struct H;\n",
        "h/mod.rs": "pub mod i;\n",
        "h/i/mod.rs": "pub mod j;\npub mod k;\n",
        "h/i/j.rs": "use super::k::X;\npub struct Y;\n",
        "h/i/k.rs": "use crate::h::i::j::Y;\npub struct X;\n",
        "lib.rs": "pub mod a;\n",
    }
    with tempfile.TemporaryDirectory() as d:
        for rel, text in cases.items():
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        tops, top_edges, sub_edges = collect(d)
    got = {k: sorted(v) for k, v in top_edges.items()}
    want = {"a": ["b", "c"], "b": ["c"], "d": ["e"]}
    assert got == want, f"top-level edges {got}, want {want}"
    assert cycles(top_edges) == [], cycles(top_edges)
    assert sorted(cycles(sub_edges)) == [["e/f", "e/g"], ["h/i/j", "h/i/k"]], cycles(sub_edges)
    assert tops == {"a", "b", "c", "d", "e", "h"}, tops


def main(argv):
    if "--self-test" in argv:
        self_test()
    show = "--graph" in argv
    args = [a for a in argv if not a.startswith("--")]
    src = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    tops, top_edges, sub_edges = collect(src)
    bad = False
    for comp in cycles(top_edges):
        bad = True
        print("import circle between top-level modules: " + " <-> ".join(comp))
        for a in comp:
            for b in comp:
                if b in top_edges.get(a, {}):
                    print(f"  {a} -> {b}: " + ", ".join(sorted(top_edges[a][b])))
    for comp in cycles(sub_edges):
        bad = True
        print("import circle inside a module: " + " <-> ".join(comp))
        for a in comp:
            for b in comp:
                if b in sub_edges.get(a, {}):
                    print(f"  {a} -> {b}: " + ", ".join(sorted(sub_edges[a][b])))
    if show or not bad:
        level = layers(tops, top_edges)
        by_level = {}
        for t, l in level.items():
            by_level.setdefault(l, []).append(t)
        if show:
            for l in sorted(by_level, reverse=True):
                for t in sorted(by_level[l]):
                    print(f"{l:2} {t:13} -> {', '.join(sorted(top_edges.get(t, {})))}")
    if bad:
        print("the core must form layers: move the shared piece down (src/util/ is the leaf)")
        return 1
    print(f"import check: {len(tops)} top-level core modules, no circles")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
