"""Hand the package's facts to later script lines of the same step, through Bitbucket's shared pipe storage."""

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from octopus_pack.pack.ownership import give_to_folder_owner, make_folder
from octopus_pack.package_result import PackageResult

if TYPE_CHECKING:
    from octopus_pack.octopus.push_result import PushResult

RESULT_FOLDER = "octopus-pack"


def result_variables(result: PackageResult) -> dict[str, str]:
    """The names later script lines see after `source`-ing package.env."""
    return {
        "OCTOPUS_PACK_FILE": str(result.path),
        "OCTOPUS_PACK_FILE_NAME": result.path.name,
        "OCTOPUS_PACK_ID": result.package_id,
        "OCTOPUS_PACK_VERSION": result.version,
        "OCTOPUS_PACK_FORMAT": result.format,
        "OCTOPUS_PACK_SIZE": str(result.size),
        "OCTOPUS_PACK_SHA256": result.sha256,
        "OCTOPUS_PACK_FILE_COUNT": str(result.file_count),
    }


def write_result_files(result: PackageResult, storage_dir: Path, pushed: "PushResult | None" = None) -> Path:
    """Write package.env (shell) and package.json under storage_dir/octopus-pack; return the .env path.

    Written once the package exists, and again with the OCTOPUS_PUSH_* variables after a push.
    """
    folder = storage_dir / RESULT_FOLDER
    make_folder(folder)
    variables = result_variables(result) | (pushed.variables() if pushed else {})
    env_file = folder / "package.env"
    env_file.write_text("".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items()))
    json_file = folder / "package.json"
    json_file.write_text(json.dumps(variables, indent=2) + "\n")
    for written in (env_file, json_file):
        give_to_folder_owner(written)
    return env_file
