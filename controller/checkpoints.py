"""Checkpoints: signed files under `<experiment path>/checkpoints/`, plus an in-memory copy.

A checkpoint is the trainer's state snapshot together with the position it was
taken at (chunks trained, steps done), so that a restarted controller knows
exactly where the saved model stands. A run has two files, one for even and
one for odd positions (`run_<id>.even.ckpt`, `run_<id>.odd.ckpt`), each written
to a temporary name and moved into place: a crash never leaves half a
checkpoint, and the file the database names (the one committed with the
chunk's progress and history) is never overwritten by the next chunk, which
may not be committed yet; the chunk after it, which replaces it, is only
trained once that one is.

Trust: a checkpoint is unpickled only if its resolved path (symlinks followed)
lies inside the checkpoints folder and its HMAC-SHA256, under the key in
`<experiment path>/checkpoint.key` (created 0600 on first use) and bound to the
run id, matches. Anything else raises `CheckpointRefused` before a byte is
unpickled. The latest checkpoint of every run also stays in memory: resuming
a stopped run or warm-starting a clone in the same process reads no file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import pickle
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINT_FOLDER = "checkpoints"
KEY_FILE = "checkpoint.key"
MAGIC = b"RFCKPT1\n"
_DIGEST = hashlib.sha256
_DIGEST_SIZE = _DIGEST().digest_size


class CheckpointRefused(Exception):
    """A checkpoint that is not trusted or cannot be read; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    state: Any
    position: int
    completed_steps: int


class CheckpointStore:
    """Save, load and drop run checkpoints; safe to call from several worker threads."""

    def __init__(self, experiment_path: str | os.PathLike[str],
                 keep_in_memory: bool = True) -> None:
        self.experiment_path = Path(experiment_path)
        self.folder = self.experiment_path / CHECKPOINT_FOLDER
        self.keep_in_memory = keep_in_memory  # off for models too big to hold twice
        self._latest: dict[int, Checkpoint] = {}
        self._key: bytes | None = None
        self._folder_made = False
        self._resolved_folder: Path | None = None
        self._lock = threading.Lock()

    def path_for(self, run_id: int, position: int) -> Path:
        return self.folder / f"run_{run_id}.{'odd' if position % 2 else 'even'}.ckpt"

    # --- writing ---------------------------------------------------------------

    def save(self, run_id: int, checkpoint: Checkpoint) -> Path:
        """Write the checkpoint atomically, signed, and keep it in memory; returns its file."""
        payload = pickle.dumps(checkpoint, protocol=pickle.HIGHEST_PROTOCOL)
        signature = self._sign(run_id, payload)
        if not self._folder_made:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._folder_made = True
        path = self.path_for(run_id, checkpoint.position)
        temporary = f"{path}.{threading.get_ident()}.tmp"
        try:
            try:
                handle = open(temporary, "wb")
            except FileNotFoundError:  # the folder was removed meanwhile
                self.folder.mkdir(parents=True, exist_ok=True)
                handle = open(temporary, "wb")
            with handle:
                handle.write(MAGIC + signature + payload)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):  # the previous checkpoint stays whole
                os.unlink(temporary)
            raise
        if self.keep_in_memory:
            with self._lock:
                self._latest[run_id] = checkpoint
        return path

    def drop(self, run_id: int) -> None:
        """Forget the run's state, in memory and on disk (a deleted run)."""
        with self._lock:
            self._latest.pop(run_id, None)
        if self.folder.is_dir():
            for file in self.folder.glob(f"run_{run_id}.*.ckpt"):
                file.unlink(missing_ok=True)

    def forget(self, run_id: int) -> None:
        """Free the in-memory copy only (a finished run); the file stays for warm clones."""
        with self._lock:
            self._latest.pop(run_id, None)

    # --- reading ---------------------------------------------------------------

    def load(self, run_id: int, path: str | os.PathLike[str] | None) -> Checkpoint | None:
        """The run's latest checkpoint: from memory, else from `path` (the one the
        database names), else None (no checkpoint committed yet).

        Raises CheckpointRefused for a file outside the checkpoints folder, one
        not signed with this experiment's key for this run, or one that cannot
        be read.
        """
        with self._lock:
            cached = self._latest.get(run_id)
        if cached is not None:
            return cached
        if not path:
            return None
        checkpoint = self.read_file(run_id, path)
        if self.keep_in_memory:
            with self._lock:
                self._latest[run_id] = checkpoint
        return checkpoint

    def read_file(self, run_id: int, path: str | os.PathLike[str]) -> Checkpoint:
        """Check a checkpoint file, then unpickle it; CheckpointRefused says why not."""
        file = self._inside(path)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CheckpointRefused(f"The checkpoint {file.name} cannot be read "
                                    f"({exc.strerror or exc}).") from None
        header = len(MAGIC) + _DIGEST_SIZE
        if len(data) < header or not data.startswith(MAGIC):
            raise CheckpointRefused(f"The checkpoint {file.name} is not an rfconsole checkpoint "
                                    f"(truncated, or written by something else).")
        signature, payload = data[len(MAGIC):header], data[header:]
        if not hmac.compare_digest(signature, self._sign(run_id, payload)):
            raise CheckpointRefused(f"The checkpoint {file.name} is not signed by this "
                                    f"experiment's controller for run {run_id}; it was not loaded.")
        try:
            checkpoint = pickle.loads(payload)  # signed by us: our own save()
        except Exception as exc:
            raise CheckpointRefused(f"The checkpoint {file.name} cannot be loaded "
                                    f"({type(exc).__name__}).") from None
        if not isinstance(checkpoint, Checkpoint):
            raise CheckpointRefused(f"The checkpoint {file.name} is not an rfconsole checkpoint.")
        return checkpoint

    def _inside(self, path: str | os.PathLike[str]) -> Path:
        """The resolved file, if it lies inside the checkpoints folder (symlinks followed)."""
        if self._resolved_folder is None:
            self._resolved_folder = self.folder.resolve()
        folder = self._resolved_folder
        try:
            file = Path(path).resolve()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL character
            file = None
        if file is None or file.parent != folder or not file.name.endswith(".ckpt"):
            raise CheckpointRefused(f"The checkpoint path {str(path)[:200]!r} is outside this "
                                    f"experiment's checkpoints folder; it was not loaded.")
        return file

    # --- the key ---------------------------------------------------------------

    def ensure_key(self) -> None:
        """Create (or check) the signing key now, before other processes need it."""
        self._signing_key()

    def _sign(self, run_id: int, payload: bytes) -> bytes:
        return hmac.new(self._signing_key(), b"run %d\n" % run_id + payload, _DIGEST).digest()

    def _signing_key(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = _load_or_create_key(self.experiment_path / KEY_FILE)
            return self._key


def _load_or_create_key(file: Path) -> bytes:
    """The experiment's signing key: 32 random bytes, owner-only, created on first use."""
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        key = secrets.token_bytes(32)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
        return key
    try:
        descriptor = os.open(file, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        raise CheckpointRefused(f"The checkpoint key {file} cannot be read "
                                f"({exc.strerror or exc}).") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        key = handle.read()
    if not stat.S_ISREG(info.st_mode) or len(key) < 32:
        raise CheckpointRefused(f"The checkpoint key {file} is not a key this controller wrote.")
    if info.st_mode & 0o077:
        raise CheckpointRefused(f"The checkpoint key {file} can be read by other users; "
                                f"make it private (chmod 600) or remove it.")
    # The experiment's folder comes from a database row: a key someone else owns (in a folder
    # such a row could point to) would let them sign checkpoints.
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise CheckpointRefused(f"The checkpoint key {file} belongs to another user; "
                                f"only a key of the user running the controller is trusted.")
    return key


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
