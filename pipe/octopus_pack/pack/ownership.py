"""Give what the pipe writes to whoever owns the folder it lands in, so later steps can change or delete it.

Bitbucket runs pipes as root, and root-owned artifacts in the clone make later commands fail with "permission
denied". Where the kernel does not let us chown (user-namespaced runners), the files stay as they are (DEBUG only).
"""

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def give_to_folder_owner(path: Path) -> None:
    """chown path to the owner of its parent folder, when we are root and they differ."""
    if os.geteuid() != 0:
        return
    try:
        folder = path.parent.stat()
        mine = path.stat()
        if (mine.st_uid, mine.st_gid) != (folder.st_uid, folder.st_gid):
            os.chown(path, folder.st_uid, folder.st_gid)
    except OSError as error:
        log.debug(f"Left the owner of {path} unchanged: {error}")


def make_folder(path: Path) -> None:
    """Create path and any missing parents, each owned like the folder it is created in."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        give_to_folder_owner(folder)
