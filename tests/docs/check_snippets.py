#!/usr/bin/env python3
"""Every C++ snippet users read compiles and runs: each ```cpp block of README.md and each
@code/\\code block of the public headers must appear in a program under examples/ (which the
build compiles and the tests run). A block is compared paragraph by paragraph (blank lines split
it), each line stripped of its indentation, so a snippet may sit at namespace scope or inside
main(). Usage: check_snippets.py SOURCE_DIR"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])


def lines_of(text):
    # Indentation and runs of spaces (comment alignment) do not count.
    return [" ".join(line.split()) for line in text.splitlines()]


def paragraphs(block):
    out, current = [], []
    for line in lines_of(block):
        if line:
            current.append(line)
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def contains(haystack, needle):
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


examples = {p.name: lines_of(p.read_text()) for p in sorted((root / "examples").glob("*.cpp"))}
snippets = []  # (where, block)
readme = (root / "README.md").read_text()
for m in re.finditer(r"```cpp\n(.*?)```", readme, re.S):
    snippets.append((f"README.md:{readme[:m.start()].count(chr(10)) + 1}", m.group(1)))
for header in sorted((root / "include" / "plexus").glob("*.hpp")):
    text = header.read_text()
    for m in re.finditer(r"[@\\]code\b(?:\{[^}]*\})?\n(.*?)[@\\]endcode", text, re.S):
        block = "\n".join(re.sub(r"^\s*///?<?\s?", "", l) for l in m.group(1).splitlines())
        snippets.append((f"{header.relative_to(root)}:{text[:m.start()].count(chr(10)) + 1}", block))

failures = 0
for where, block in snippets:
    for para in paragraphs(block):
        if not any(contains(lines, para) for lines in examples.values()):
            failures += 1
            print(f"{where}: this part of the snippet is in no program under examples/:")
            print("    " + "\n    ".join(para))
if not snippets:
    print("no snippets found: the check would check nothing")
    sys.exit(1)
print(f"{len(snippets)} snippets, {failures} parts not found in examples/")
sys.exit(1 if failures else 0)
