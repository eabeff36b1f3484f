"""Hand the package's facts to later script lines of the same step, through Bitbucket's shared pipe storage."""

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from octopus_pack.pack.ownership import give_to_folder_owner, make_folder
from octopus_pack.package_result import PackageResult

if TYPE_CHECKING:
    from octopus_pack.octopus.push_result import PushResult

RESULT_FOLDER = "octopus-pack"


def result_variables(result: PackageResult, prefix: str = "OCTOPUS_PACK_") -> dict[str, str]:
    """The names later script lines see after `source`-ing package.env (no FILE_COUNT for a file built elsewhere)."""
    variables = {
        f"{prefix}FILE": str(result.path),
        f"{prefix}FILE_NAME": result.path.name,
        f"{prefix}ID": result.package_id,
        f"{prefix}VERSION": result.version,
        f"{prefix}FORMAT": result.format,
        f"{prefix}SIZE": str(result.size),
        f"{prefix}SHA256": result.sha256,
        f"{prefix}FILE_COUNT": str(result.file_count),
    }
    if result.file_count is None:
        del variables[f"{prefix}FILE_COUNT"]
    return variables


def listed_variables(packages: Sequence[PackageResult], pushed: Sequence["PushResult"] = ()) -> dict[str, str]:
    """Every package of the step, packed first, then PACKAGES in push order: OCTOPUS_PACK_PACKAGES_COUNT and
    OCTOPUS_PACK_PACKAGES_0_ID and so on, as Bitbucket writes array variables; after a push, each package's
    OCTOPUS_PUSH_* facts too, as OCTOPUS_PACK_PACKAGES_0_PUSH_PACKAGE and so on."""
    variables = {"OCTOPUS_PACK_PACKAGES_COUNT": str(len(packages))}
    for index, package in enumerate(packages):
        prefix = f"OCTOPUS_PACK_PACKAGES_{index}_"
        variables.update(result_variables(package, prefix))
        if index < len(pushed):
            variables.update({prefix + name.removeprefix("OCTOPUS_"): value
                              for name, value in pushed[index].variables().items()})
    return variables


def write_result_files(result: PackageResult, storage_dir: Path, packages: Sequence[PackageResult] = (),
                       pushed: Sequence["PushResult"] = ()) -> Path:
    """Write package.env (shell) and package.json under storage_dir/octopus-pack; return the .env path.

    `result` is the step's first package (the packed one when it packs); `packages`, when given, is every package
    of the step, listed as well. Written once the packages are known, and again with what the push did (`pushed`,
    one result per package in the same order; the first one's also as the OCTOPUS_PUSH_* variables).
    """
    folder = storage_dir / RESULT_FOLDER
    make_folder(folder)
    variables = result_variables(result) | (pushed[0].variables() if pushed else {})
    listed = listed_variables(packages, pushed) if packages else {}
    env_file = folder / "package.env"
    env_file.write_text("".join(f"export {name}={shlex.quote(value)}\n"
                                for name, value in {**variables, **listed}.items()))
    json_file = folder / "package.json"
    document: dict[str, object] = dict(variables)
    if packages:
        document["OCTOPUS_PACK_PACKAGES"] = [
            result_variables(package, "") | ({name.removeprefix("OCTOPUS_"): value
                                              for name, value in pushed[index].variables().items()}
                                             if index < len(pushed) else {})
            for index, package in enumerate(packages)
        ]
    json_file.write_text(json.dumps(document, indent=2) + "\n")
    for written in (env_file, json_file):
        give_to_folder_owner(written)
    return env_file
