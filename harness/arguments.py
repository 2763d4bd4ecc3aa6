"""What the scripts' command lines share: their parser, `--data-dir` checked up front, bad input as one line.

Every script runs as a module from the project's root (`python -m experiments.run ...`), and its usage
says so.

Without `--data-dir` a script passes the app's default (an empty run-config `data-dir`: the download
cache `~/.cache/fedrec-arena/<dataset>`, filled on first use); a script whose data cannot be downloaded
makes the option required. A directory that does not exist is one argparse error line, not a traceback,
and so is a `ConfigError` (a bad setting, a missing data file, a failed download) inside `one_line_errors`.
"""

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fedrec.errors import ConfigError

#: What an omitted `--data-dir` means, as the run config's `data-dir` does.
DOWNLOAD_CACHE = ""


def script_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of the script `module` (pass `__spec__.name`), with `doc`, its docstring, as the help."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def existing_dir(text: str) -> str:
    """An argparse type: `text` as an absolute path, if it is a directory; empty, as in the run config, the
    download cache (argparse passes the default through here too).

    Absolute because `flwr run` reads the run config in other processes and directories.
    """
    if text == DOWNLOAD_CACHE:
        return DOWNLOAD_CACHE
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such directory")
    return str(path.resolve())


def add_data_dir(parser: argparse.ArgumentParser, required: bool = False, help_text: str = "") -> None:
    """Add `--data-dir` (an existing directory) to `parser`; an optional one defaults to the download cache."""
    default_help = "the dataset's folder (run-config data-dir)"
    if not required:
        default_help += "; default: the download cache ~/.cache/fedrec-arena/<dataset>, filled on first use"
    parser.add_argument(
        "--data-dir",
        type=existing_dir,
        required=required,
        default=None if required else DOWNLOAD_CACHE,
        metavar="DIR",
        help=help_text or default_help,
    )


@contextmanager
def one_line_errors(parser: argparse.ArgumentParser) -> Iterator[None]:
    """A `ConfigError` raised inside ends the script with its one line and exit status 2."""
    try:
        yield
    except ConfigError as error:
        parser.exit(2, f"{parser.prog}: {error}\n")
