"""Everything AgentDesk writes is private to the account it runs as.

On a jump host that account is the service account (`agentdesk`) and the
agents reach the store only through `sudo -u agentdesk agentdesk`; alone on a
laptop it is the agent's own. Either way: directories 0700, files 0600. The
command line sets the umask once at start (`PRIVATE_UMASK`); the helpers here
give the same modes when a service is called from anywhere else (tests,
another program).

Like ssh with a private key, AgentDesk refuses to open a store whose files
others could read or write (`refuse_exposed`), naming the command that fixes it.
"""

from __future__ import annotations

import os
import pwd
import shlex
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from agentdesk.db import keys
from agentdesk.db.store import StoreError

if TYPE_CHECKING:
    from agentdesk.config import Settings

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
EXPOSED_BITS = 0o077
"""Any permission for group or others."""


class ExposedStore(StoreError):
    """The store or its key file can be read or written by someone other than its owner."""


def private_dir(path: Path) -> Path:
    """`mkdir -p`, each directory it creates 0700 (an existing one is left as it is: `doctor` reports it)."""
    missing = [p for p in (path, *path.parents) if not p.is_dir()]
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True, mode=PRIVATE_DIR)
        os.chmod(directory, PRIVATE_DIR)
    return path


def create_private(path: Path, *, exclusive: bool = True) -> BinaryIO:
    """A new file opened for writing, mode 0600 whatever the umask (O_EXCL unless `exclusive=False`)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)
    if not exclusive:
        os.fchmod(fd, PRIVATE_FILE)
    return os.fdopen(fd, "wb")


def sqlite_path(database_url: str) -> Path | None:
    """The file of an SQLite store; None for PostgreSQL or an in-memory database."""
    return keys.sqlite_file(database_url)


def sqlite_files(database: Path) -> list[Path]:
    """The store and the files SQLite keeps beside it in WAL mode."""
    return [database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")]


def key_file(settings: Settings) -> Path | None:
    """Where the store's key file is (the secret for card fingerprints and the timeline chain)."""
    return keys.key_path(settings.database_url, settings.key_file, settings.data_dir)


def guarded_files(settings: Settings) -> list[Path]:
    """The files that must be private before the store is opened: the SQLite files and the key file."""
    paths: list[Path] = []
    database = sqlite_path(settings.database_url)
    if database is not None:
        paths += sqlite_files(database)
    key = key_file(settings)
    if key is not None:
        paths.append(key)
    return paths


def service_paths(settings: Settings) -> list[Path]:
    """What the service account owns: the store file (SQLite), the data dir, the config file."""
    database = sqlite_path(settings.database_url)
    paths = [p for p in (database, settings.data_dir, settings.config_file) if p is not None]
    return paths


def owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def mode_text(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


@dataclass(frozen=True)
class Exposure:
    path: Path
    mode: int
    uid: int

    @property
    def who(self) -> str:
        readers = []
        if self.mode & 0o070:
            readers.append("its group")
        if self.mode & 0o007:
            readers.append("every user")
        return " and ".join(readers)


def exposures(paths: Iterable[Path]) -> Iterator[Exposure]:
    """Each existing path with a permission bit for group or others."""
    for path in paths:
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if info.st_mode & EXPOSED_BITS:
            yield Exposure(path, info.st_mode, info.st_uid)


def fix_command(found: list[Exposure], uid: int | None = None) -> str:
    """The shell command that makes these files private to `uid` (default: the account running now)."""
    uid = os.getuid() if uid is None else uid
    quoted = " ".join(shlex.quote(str(e.path)) for e in found)
    chmod = f"chmod 600 {quoted}"
    if all(e.uid == uid for e in found):
        return chmod
    return f"chown {shlex.quote(owner_name(uid))} {quoted} && {chmod}"


def refuse_exposed(settings: Settings) -> None:
    """Raise `ExposedStore` when another account could read or write the store or its key file.

    A file the running account cannot reach at all is named too, with the way
    a jump host is meant to be used (through sudo as the service account).
    """
    paths = guarded_files(settings)
    for path in paths:
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        except PermissionError:
            raise ExposedStore(
                f"{path} cannot be reached by {owner_name(os.getuid())}; on a shared jump host run AgentDesk "
                "as its service account: sudo -u agentdesk agentdesk"
            ) from None
        if not os.access(path, os.R_OK | os.W_OK) and not info.st_mode & EXPOSED_BITS:
            raise ExposedStore(
                f"{path} belongs to {owner_name(info.st_uid)} (mode {mode_text(info.st_mode)}) and cannot be opened "
                f"by {owner_name(os.getuid())}; run AgentDesk as that account: sudo -u {owner_name(info.st_uid)} "
                "agentdesk"
            )
    found = list(exposures(paths))
    if found:
        names = ", ".join(f"{e.path} (mode {mode_text(e.mode)}, open to {e.who})" for e in found)
        raise ExposedStore(
            f"refusing to open the store: {names} must be readable and writable by its owner only, "
            f"like an ssh key; fix it with: {fix_command(found)}"
        )
