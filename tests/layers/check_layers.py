#!/usr/bin/env python3
"""Checks every #include of the library against src/LAYERS.

usage: check_layers.py ROOT   (ROOT holds src/LAYERS, src/<layer>/ and include/plexus/)
Prints one line per include that crosses a layer the wrong way and exits 1 if there is any.
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
POSIX = re.compile(r'^(sys/|linux/|arpa/|netinet/|asm/)|^(unistd|fcntl|poll|time|signal|pthread|'
                   r'sched|dlfcn|errno|netdb|termios|semaphore|spawn)\.h$')
SOURCE_SUFFIXES = {'.hpp', '.cpp', '.h', '.cc'}


def parse_layers(path):
    layers = {}
    for line in path.read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3:
            raise SystemExit(f'{path}: expected "layer uses public": {line!r}')
        name, uses, public = fields
        split = lambda f: {'*'} if f == '*' else set() if f == '-' else set(f.split(','))
        layers[name] = (split(uses), split(public))
    return layers


def includes(path):
    for number, line in enumerate(path.read_text(errors='replace').splitlines(), 1):
        m = INCLUDE.match(line)
        if m:
            yield number, m.group(1) == '<', m.group(2)


def check(root):
    root = pathlib.Path(root)
    layers = parse_layers(root / 'src' / 'LAYERS')
    problems = []
    for folder in sorted(p for p in (root / 'src').iterdir() if p.is_dir()):
        if folder.name not in layers:
            problems.append(f'src/{folder.name}/: a folder that src/LAYERS does not name')
    for name, (uses, public) in layers.items():
        for path in sorted((root / 'src' / name).rglob('*')):
            if path.suffix not in SOURCE_SUFFIXES:
                continue
            where = path.relative_to(root)
            for number, angled, target in includes(path):
                head = target.split('/', 1)[0] if '/' in target else None
                if POSIX.search(target) and name != 'platform':
                    problems.append(f'{where}:{number}: POSIX header <{target}> outside platform/')
                elif head == 'plexus':
                    header = target.split('/', 1)[1]
                    if '*' not in public and header not in public:
                        problems.append(f'{where}:{number}: {name} may not include public '
                                        f'header {target} (src/LAYERS)')
                elif angled:
                    if name == 'wire' and head not in (None, 'tl'):
                        problems.append(f'{where}:{number}: wire is pure: no <{target}>')
                elif head is None or head == name:
                    continue
                elif head in layers:
                    if '*' not in uses and head not in uses:
                        problems.append(f'{where}:{number}: {name} may not include {target} '
                                        f'({head} is not below it in src/LAYERS)')
                else:
                    problems.append(f'{where}:{number}: {target} is in no layer of src/LAYERS')
    for path in sorted((root / 'include' / 'plexus').rglob('*.hpp')):
        where = path.relative_to(root)
        for number, angled, target in includes(path):
            head = target.split('/', 1)[0] if '/' in target else None
            if not angled and head in layers:
                problems.append(f'{where}:{number}: a public header includes internal {target}')
            elif POSIX.search(target):
                problems.append(f'{where}:{number}: a public header includes <{target}>')
    return problems


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f'{len(problems)} include(s) cross a layer the wrong way')
        return 1
    print('every include respects src/LAYERS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
