"""Runs the `widescale` command in this process (fast) or in a subprocess (for kills and exit codes)."""

import os
import subprocess
import sys
from typing import List, Sequence

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_in_process(args: Sequence[str]) -> int:
  """Parses `args` as the command line and runs widescale's main; returns its exit code."""
  from absl import flags
  from widescale import main
  flags.FLAGS.unparse_flags()
  flags.FLAGS(['widescale', *args])
  return main._main_with_errors(['widescale'])  # pylint: disable=protected-access


def command(args: Sequence[str]) -> List[str]:
  """The command line of a `widescale` subprocess using this interpreter."""
  return [sys.executable, '-m', 'widescale.main', *args]


def run_subprocess(args: Sequence[str], timeout: float = 600) -> subprocess.CompletedProcess:
  return subprocess.run(command(args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                        env=dict(os.environ))
