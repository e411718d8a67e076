"""State in a local directory: create-only writes with O_EXCL, replacing writes by rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..ports import StoreError


class FileStore:
    def __init__(self, directory: str) -> None:
        self._root = Path(directory)

    def _path(self, name: str) -> Path:
        return self._root.joinpath(*name.split("/"))

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StoreError(f"cannot read {self._path(name)}: {err.strerror}") from None

    def put(self, name: str, data: bytes, *, create_only: bool = False) -> bool:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if create_only:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    return False
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                return True
            # Write to a temporary file and rename: a crash never leaves half a state file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
            return True
        except OSError as err:
            raise StoreError(f"cannot write {path}: {err.strerror}") from None

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as err:
            raise StoreError(f"cannot delete {self._path(name)}: {err.strerror}") from None
