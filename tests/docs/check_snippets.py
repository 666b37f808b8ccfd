#!/usr/bin/env python3
"""Every C++ snippet users read compiles and runs: each ```cpp block of README.md, and each code
block in the /// comments of the public headers (include/plexus/*.hpp): a fenced ``` block, or
an @code/\\code block, must appear in a program under examples/ (which the build compiles and the
tests run). In a header, each comment line of a block is taken without its leading `///` and one
space. A block is compared paragraph by paragraph (blank lines split it): each paragraph must be
consecutive lines of one examples/**/*.cpp, every line compared without its indentation and with
runs of spaces collapsed, so a snippet may sit at namespace scope or inside a function, and the
paragraphs of one snippet may come from different places. Exits 1, naming FILE:LINE and the
paragraph, when a paragraph is in no example (or a fence is left open). Usage:
check_snippets.py SOURCE_DIR"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])


def normal(line):
    # Indentation and runs of spaces (comment alignment) do not count.
    return " ".join(line.split())


def paragraphs(block):
    """block: [(line number, text)] -> [(line number of its first line, [normal lines])]"""
    out, current, start = [], [], 0
    for number, text in block + [(0, "")]:
        line = normal(text)
        if line:
            if not current:
                start = number
            current.append(line)
        elif current:
            out.append((start, current))
            current = []
    return out


def contains(haystack, needle):
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def readme_blocks(path):
    blocks, block = [], None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if block is None:
            if line.strip() == "```cpp":
                block = []
        elif line.strip().startswith("```"):
            blocks.append(block)
            block = None
        else:
            block.append((number, line))
    return blocks, block is not None


def header_blocks(path):
    """The code blocks of the /// comments: fenced ``` blocks and @code/\\code … @endcode."""
    blocks, block, end = [], None, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"\s*///<?(.*)$", line)
        if not m:
            if block is not None:  # a comment ended inside a block
                return blocks, True
            continue
        text = m.group(1)[1:] if m.group(1).startswith(" ") else m.group(1)
        if block is None:
            if text.strip().startswith("```"):
                block, end = [], r"```"
            elif re.match(r"[@\\]code\b", text.strip()):
                block, end = [], r"[@\\]endcode\b"
        elif re.match(end, text.strip()):
            blocks.append(block)
            block = None
        else:
            block.append((number, text))
    return blocks, block is not None


examples = {str(p.relative_to(root / "examples")): [normal(l) for l in p.read_text().splitlines()]
            for p in sorted((root / "examples").glob("**/*.cpp"))}
sources = [root / "README.md"] + sorted((root / "include" / "plexus").glob("*.hpp"))

failures = snippets = 0
for source in sources:
    blocks, open_fence = (readme_blocks if source.suffix == ".md" else header_blocks)(source)
    name = source.relative_to(root)
    if open_fence:
        failures += 1
        print(f"{name}: a code block is not closed")
    for block in blocks:
        snippets += 1
        for start, para in paragraphs(block):
            if not any(contains(lines, para) for lines in examples.values()):
                failures += 1
                print(f"{name}:{start}: this part of the snippet is in no program under examples/:")
                print("    " + "\n    ".join(para))
if not snippets:
    print("no snippets found: the check would check nothing")
    sys.exit(1)
print(f"{snippets} snippets, {failures} failure(s): parts in no example, or blocks left open")
sys.exit(1 if failures else 0)
