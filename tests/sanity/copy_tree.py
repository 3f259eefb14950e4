# Copyright: servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy the collection's files into ``<dest>`` (used by ``make sanity``).

``ansible-test`` only runs from a directory laid out as ``.../ansible_collections/<ns>/<name>``,
so ``make sanity`` copies the checkout there.  The file list is what git would track
(``git ls-files --cached --others --exclude-standard``: tracked files plus untracked files that
are not git-ignored), which is also what ``ansible-test`` itself would look at in a git checkout.
Without git, the tree is walked and the ``--exclude`` paths are skipped.

Usage: python copy_tree.py SRC DEST [--exclude RELPATH]...
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

# Left out when there is no git to ask (they are git-ignored in a checkout).
ALWAYS_EXCLUDED = (
    '.git', '.venv', 'collections', '.cache', '.ansible', '.kubesim', '.pytest_cache', '.ruff_cache',
    'tests/output',
)
CACHE_DIR_NAMES = frozenset(('__pycache__', '.pytest_cache', '.ruff_cache', '.mypy_cache'))


def is_excluded(relpath: str, excludes: tuple[str, ...]) -> bool:
    """Return True if relpath is one of the excluded paths or lies below one."""
    return any(relpath == ex or relpath.startswith(ex + '/') for ex in excludes)


def list_files(src: str) -> list[str]:
    """Return the relative paths of the files to copy."""
    if os.path.exists(os.path.join(src, '.git')):
        out = subprocess.run(
            ['git', '-C', src, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
            check=True,
            stdout=subprocess.PIPE,
        ).stdout
        return sorted({path for path in out.decode('utf-8').split('\0') if path})

    paths = []
    for root, dirs, files in os.walk(src):
        rel_root = os.path.relpath(root, src)
        rel_root = '' if rel_root == '.' else rel_root + '/'
        dirs[:] = [
            d for d in dirs if d not in CACHE_DIR_NAMES and not is_excluded(rel_root + d, ALWAYS_EXCLUDED)
        ]
        paths.extend(rel_root + name for name in files)
    return sorted(paths)


def main(argv: list[str]) -> int:
    """Copy the files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src')
    parser.add_argument('dest')
    parser.add_argument('--exclude', action='append', default=[], help='relative path to leave out')
    args = parser.parse_args(argv)

    excludes = ALWAYS_EXCLUDED + tuple(path.strip('/') for path in args.exclude)
    copied = 0

    if os.path.isdir(args.dest):
        shutil.rmtree(args.dest)

    for relpath in list_files(args.src):
        source = os.path.join(args.src, relpath)
        # git lists tracked files that were deleted from the work tree: skip those.
        if is_excluded(relpath, excludes) or not os.path.lexists(source):
            continue
        target = os.path.join(args.dest, relpath)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
        copied += 1

    sys.stdout.write('copied %d files to %s\n' % (copied, args.dest))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
