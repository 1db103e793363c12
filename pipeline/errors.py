"""How the scripts end: one line that names the file and the cause, and an exit status that says
which kind of problem it was. A traceback is for bugs, and `--debug` shows it for anything.

    EXIT_OK 0            done
    EXIT_CRASH 1         a bug or an unexpected failure (the traceback is printed)
    EXIT_USAGE 2         a wrong option, config value or combination, or an output written with other
                         settings (resuming would mix them); nothing was started
    EXIT_SOME_FAILED 3   the job finished, but some videos could not be read (each has its row)
    EXIT_BAD_INPUT 4     an input is wrong: dataset annotations, a checkpoint, a video list, an empty folder
    EXIT_OUTPUT 5        an output cannot be written (permissions, a full disk, a folder in its way)
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Callable, List, Optional

from pipeline.quiet import silence_third_party_noise

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_SOME_FAILED = 3
EXIT_BAD_INPUT = 4
EXIT_OUTPUT = 5

DEBUG_FLAG = "--debug"


class UsageError(ValueError):
    """An option or config value that cannot work; reported before any video is touched."""

    exit_code = EXIT_USAGE


class InputError(ValueError):
    """An input file (annotations, checkpoint, list of videos) that cannot be used as it is."""

    exit_code = EXIT_BAD_INPUT


class OutputError(RuntimeError):
    """An output that cannot be written, or that was written with other settings."""

    exit_code = EXIT_OUTPUT


def exit_code_for(exc: BaseException) -> Optional[int]:
    """The exit status of an expected failure, or None for a bug (which deserves a traceback)."""
    from pipeline.data.annotations import AnnotationError

    if hasattr(exc, "exit_code"):
        return int(exc.exit_code)
    if isinstance(exc, (AnnotationError, FileNotFoundError)):  # a missing input, named or not
        return EXIT_BAD_INPUT
    if isinstance(exc, (PermissionError, IsADirectoryError)) or (
        isinstance(exc, OSError) and exc.errno is not None and exc.filename is not None
    ):
        return EXIT_BAD_INPUT if isinstance(exc, FileNotFoundError) else EXIT_OUTPUT
    return None


def one_line(exc: BaseException) -> str:
    """The message of an expected failure, without the exception's class name."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    problems = getattr(exc, "problems", None)  # AnnotationError: one problem is the whole message
    if isinstance(problems, list) and len(problems) == 1:
        return str(problems[0])
    return str(exc)


def run_script(main: Callable[[List[str]], int], argv: Optional[List[str]] = None, *,
               lightning_run_info: bool = False) -> None:
    """Run a script's `main(argv) -> exit status` and exit; expected failures end in one line on
    stderr ("error: ..."), with `--debug` (or RNN_AR_DEBUG=1) the full traceback instead.

    Third-party noise is dropped first (pipeline.quiet); Lightning's device and seed lines are kept
    only with `lightning_run_info` (the scripts that train)."""
    silence_third_party_noise(run_info=lightning_run_info)
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or os.environ.get("RNN_AR_DEBUG") == "1"
    argv = [a for a in argv if a != DEBUG_FLAG]
    try:
        code = main(argv)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None or debug:
            traceback.print_exc()
            sys.exit(code if code is not None else EXIT_CRASH)
        print(f"error: {one_line(exc)}", file=sys.stderr)
        print(f"(run again with {DEBUG_FLAG} for the traceback)", file=sys.stderr)
        sys.exit(code)
    sys.exit(code)
