"""The ``kb`` command: a package of small command modules over library calls.

It is the one composition root: the only code in ``kb/`` that may import ``indexer`` and
``webui`` (inside each command, so that ``kb --help`` and a search stay quick to start). Each
command parses its options, makes one library call and formats the answer.
"""

from kb.cli import accounts, cases, history, index, search, serve, watch  # noqa: F401  (registers the commands)
from kb.cli.root import main, run

__all__ = ["main", "run"]
