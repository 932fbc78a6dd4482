"""Times each step of `.ci/run` on a fresh clone, as CI runs it (a benchmark, not a test).

    python scripts/bench_ci.py                 # this checkout's HEAD
    python scripts/bench_ci.py --rev c4146fc   # any commit, e.g. the one before a CI change, to compare
    python scripts/bench_ci.py --no-pip-cache  # as on a new machine (pip's ~/.cache/pip not used)

It clones the repository into a temporary directory (`<tmp>/repo`, with `<tmp>/shared` linking to the upstream
data beside this checkout, as CI lays it out), runs `bash .ci/run` there with CI=true and no standard input,
and stamps every output line with the time it arrived. A step is the stretch from one `== <step>` header line to
the next (the lines before the first header are `setup`), so scripts that print no timings of their own can be
compared too. It prints the seconds of each step, the whole run's wall time and its CPU time (user + system of
every child: the machine may be shared, and wall time then says little on its own), the load average before and
after, and `.ci/run`'s exit code, which it also returns.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = re.compile(r"^== (?P<step>\S+)")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _clone(source: Path, rev: str, shared: Path, into: Path) -> Path:
    repo = into / "repo"
    subprocess.run(["git", "clone", "--quiet", str(source), str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "--quiet", rev], check=True)
    (into / "shared").symlink_to(shared)
    return repo


def _run(repo: Path, env: dict[str, str], log: Path, echo: bool) -> tuple[int, list[tuple[str, float]], float]:
    """Runs .ci/run; returns its exit code, each step's seconds in order, and the wall time."""
    steps: list[tuple[str, float]] = []
    started = time.monotonic()
    current, current_start = "setup", started
    with log.open("w") as out, subprocess.Popen(
        ["bash", ".ci/run"], cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            now = time.monotonic()
            out.write(f"{now - started:8.1f} {line}")
            out.flush()
            if echo:
                sys.stdout.write(f"{now - started:7.1f}s {line}")
            match = HEADER.match(line)
            if match:
                steps.append((current, now - current_start))
                current, current_start = match["step"], now
        code = process.wait()
    ended = time.monotonic()
    steps.append((current, ended - current_start))
    return code, steps, ended - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT, help="repository to clone (default: this checkout)")
    parser.add_argument("--rev", default="HEAD", help="commit to check out (default HEAD)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="upstream data to link beside it")
    parser.add_argument("--no-pip-cache", action="store_true", help="run pip without its cache (a new machine)")
    parser.add_argument("--echo", action="store_true", help="print .ci/run's output as it comes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args(argv)

    shared = args.shared.resolve()
    if not shared.is_dir():
        parser.error(f"--shared {shared} is not a directory")
    workdir = Path(tempfile.mkdtemp(prefix="bench-ci-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["CI"] = "true"
    if args.no_pip_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    try:
        repo = _clone(args.source.resolve(), args.rev, shared, workdir)
        commit = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"], check=True,
                                capture_output=True, text=True).stdout.strip()
        print(f"clone: {repo} at {commit}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, cores: {os.cpu_count()}")
        log = workdir / "ci.log"
        cpu_before = _cpu_seconds()
        code, steps, wall = _run(repo, env, log, args.echo)
        cpu = _cpu_seconds() - cpu_before
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'step':<12} {'seconds':>8}")
        for name, seconds in steps:
            print(f"{name:<12} {seconds:>8.1f}")
        print(f"{'total':<12} {wall:>8.1f}   (CPU {cpu:.0f}s user+system), .ci/run exit {code}")
        if code != 0:
            print("last lines of the log:")
            print("".join(log.read_text().splitlines(keepends=True)[-30:]), end="")
        if args.keep:
            print(f"kept: {workdir} (log: {log})")
        return code
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
