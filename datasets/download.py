"""Where a dataset's files live, and how a missing file is downloaded into the cache.

Loaders never fetch anything if the data dir already holds the file. Otherwise the official file is
downloaded into the data dir (by default the per-dataset cache `~/.cache/fedrec-arena/<dataset>`),
verified against a published MD5 where one exists, and unzipped if it is an archive. Only the standard
library is used, so the download needs nothing beyond the project's own dependencies.

Every failure ends as one `ConfigError` line saying what was looked for where, which URL was tried,
and how to provide the file by hand; a run on a machine without network access then fails with an
actionable message instead of a traceback.
"""

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

from fedrec.config import RunConfig
from fedrec.errors import ConfigError
from fedrec.settings import Setting, user_path

DATA_DIR = Setting(
    "data-dir",
    str,
    "Folder with local copies of the data files; empty = the download cache `~/.cache/fedrec-arena/<dataset>`.",
    convert=user_path,
)

CACHE_ROOT = Path("~/.cache/fedrec-arena")
TIMEOUT_SECONDS = 60.0
USER_AGENT = "fedrec-arena (dataset download)"
_CHUNK = 1 << 20

log = logging.getLogger(__name__)


def data_dir_for(config: RunConfig) -> Path:
    """`config.data_dir` if set, else the dataset's folder in the download cache."""
    if config.data_dir:
        return Path(config.data_dir).expanduser()
    return (CACHE_ROOT / config.dataset).expanduser()


def find_file(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of `names` (paths relative to `folder`) that is a file, or None."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def obtain(
    dataset: str, folder: Path, names: Sequence[str], url: str, md5: str | None = None, wanted: str = ""
) -> Path:
    """Return the first of `names` present in `folder`; else download `url` there and look again.

    A `.zip` download is extracted into `folder` (so `names` should include the path inside the archive,
    e.g. `ml-100k/u.data`); an archive already lying in `folder` is used without downloading. `wanted`
    describes the files for the error message (default: the first name).
    """
    found = find_file(folder, names)
    if found is not None:
        return found
    target = folder / url.rsplit("/", 1)[-1]
    is_zip = target.suffix == ".zip"
    try:
        if not target.is_file():
            _download(dataset, url, target, md5)
        elif md5 is not None:
            _check_md5(dataset, str(target), _md5_of(target), md5)
        if is_zip:
            _extract(target, folder)
    except (OSError, zipfile.BadZipFile) as exc:
        action = "unzip it into" if is_zip else "put it in"
        raise ConfigError(
            f"{dataset}: {' or '.join(str(folder / name) for name in names)} not found, and {url} could not"
            f" be fetched or unpacked ({_one_line(exc)}); download it yourself and {action} {folder},"
            f" or set run-config data-dir to a folder that holds {wanted or Path(names[0]).name}"
        ) from None
    found = find_file(folder, names)
    if found is None:
        raise ConfigError(
            f"{dataset}: {target} holds none of {', '.join(names)}; delete it so it is downloaded again,"
            " or set run-config data-dir to a folder that holds the data"
        )
    return found


def _download(dataset: str, url: str, target: Path, md5: str | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5(usedforsecurity=False)
    # A unique partial file renamed at the end: an interrupted or concurrent download never leaves a
    # truncated file under the final name.
    handle, partial = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        # Some hosts refuse urllib's default User-Agent.
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as got:
            while chunk := got.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if md5 is not None:
            _check_md5(dataset, url, digest.hexdigest(), md5)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    log.info("downloaded %s to %s (%d bytes)", url, target, target.stat().st_size)


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(dataset: str, source: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise ConfigError(
            f"{dataset}: {source} has MD5 {actual}, but the published checksum is {expected};"
            " download it again (delete any stale copy first),"
            " or set run-config data-dir to a folder with the extracted data"
        )


def _extract(archive: Path, folder: Path) -> None:
    # Extract beside the target and move the top-level entries in, so a reader in another process never
    # sees a half-written file; whoever moves an entry first wins.
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder))
    try:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(scratch)
        for entry in scratch.iterdir():
            try:
                os.replace(entry, folder / entry.name)
            except OSError:
                if not (folder / entry.name).exists():
                    raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
