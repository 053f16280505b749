"""Run the README's `radiolatent` commands as printed, in order, and print one line each:
the exit status, the seconds and the last line it printed.

Run it from the root of a fresh clone with a `.venv` (`make setup`): outputs land there.
Commands that train for half an hour or more on two cores (`--skip-long`, the default) and
the interactive `anomaly label` are listed as skipped; a serving command (`explore`) is
stopped after --serve seconds (its exit status is then 124). The commands come from
`tests/test_readme_commands.py`, which checks that every one of them parses.

    python benchmarks/readme_walk.py [--all] [--serve 20] [--limit 900]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_readme_commands import PROGRAM, readme_commands  # noqa: E402  (the test's reader, one copy of it)

#: commands that train for half an hour or more, or that need one of them first.
LONG = ("train vdvae", "train distil", "train byol", "cut-study", "--model runs/")
#: commands that wait for a person.
INTERACTIVE = ("anomaly label",)


def last_line(text: str) -> str:
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1][:150] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also run the long trainings")
    parser.add_argument("--serve", type=int, default=20, help="seconds a serving command runs")
    parser.add_argument("--limit", type=int, default=900, help="seconds any other command may run")
    args = parser.parse_args()
    for command in readme_commands():
        line = PROGRAM + command.replace("[", "").replace("]", "")  # an [--option] shown as optional is run
        if command.startswith(INTERACTIVE) or (not args.all and any(part in command for part in LONG)):
            print(f"skipped\t\t{line}", flush=True)
            continue
        limit = args.serve if command.startswith("explore") else args.limit
        started = time.perf_counter()
        try:
            done = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=limit, cwd=REPO)
            status, output = f"rc={done.returncode}", done.stdout + done.stderr
        except subprocess.TimeoutExpired as stopped:
            status = "rc=124"
            output = b"".join(part or b"" for part in (stopped.stdout, stopped.stderr)).decode(errors="replace")
        seconds = time.perf_counter() - started
        print(f"{status}\t{seconds:.0f}s\t{line}\t{last_line(output)}", flush=True)


if __name__ == "__main__":
    main()
