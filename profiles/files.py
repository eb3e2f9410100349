"""Owner-only files and folders for what holds customer data (SQLite files, fitted models, queues)."""

from __future__ import annotations

from pathlib import Path


def private_directory(path: str | Path) -> Path:
    """Create ``path`` and its missing parents owner-only (0700); an existing directory is left as it is.
    Returns the path. Raises OSError when it cannot be created."""
    directory = Path(path)
    missing = [p for p in (directory, *directory.parents) if not p.exists()]
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for created in missing:  # mkdir's mode is masked by the umask, and parents get the default mode
        created.chmod(0o700)
    return directory
