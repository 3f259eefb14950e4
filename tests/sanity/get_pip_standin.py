# Copyright: servicemesh.asm contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the ``get-pip.py`` script that ``ansible-test`` bootstraps its venvs with.

``ansible-test`` downloads ``get-pip-<version>.py`` from a host this machine cannot reach, unless
``~/.ansible/test/cache/get_pip_<version>.py`` already exists; ``make setup`` copies this file
there.  ansible-test runs it (through its quiet_pip wrapper) with the venv's Python and get-pip's
arguments, e.g. ``--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel``.

1. pip is seeded with ``python -m ensurepip --default-pip`` in a *child* process: ensurepip run
   in-process sets ``PIP_CONFIG_FILE=/dev/null`` in ``os.environ``, which would hide the
   machine's pip configuration (index and CA bundle) from the pip call that follows.
2. ``python -m pip install`` then runs with the given arguments, minus get-pip's own
   ``--no-setuptools`` / ``--no-wheel`` (pip does not know them).
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = frozenset(('--no-setuptools', '--no-wheel'))


def main(argv: list[str]) -> int:
    """Seed pip, then install the requested packages with it; return the exit status."""
    seeded = subprocess.call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)

    if seeded != 0:
        sys.stderr.write('get-pip stand-in: "python -m ensurepip --default-pip" failed (%d)\n' % seeded)
        return seeded

    args = [arg for arg in argv if arg not in GET_PIP_ONLY_OPTIONS]

    return subprocess.call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
