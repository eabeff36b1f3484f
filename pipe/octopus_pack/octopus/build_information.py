"""Push build information (build, branch, commits) for the package, so Octopus can show what went into a release."""

import logging
from datetime import datetime
from typing import Any

import requests

from octopus_pack.errors import PipeError, key_rejected, permission_refused
from octopus_pack.octopus import overwrite
from octopus_pack.octopus.answers import error_text, json_object, not_octopus, same_name
from octopus_pack.octopus.client import OctopusApiError, OctopusClient
from octopus_pack.octopus.git_history import Commit, CommitHistory, NoGitRepository, read_history
from octopus_pack.octopus.overwrite import Verdict
from octopus_pack.octopus.post_retry import post_with_recovery
from octopus_pack.octopus.push_result import BuildInformationOutcome
from octopus_pack.octopus.settings import BuildContext, OctopusSettings, OverwriteMode
from octopus_pack.octopus.spaces import Space
from octopus_pack.octopus.versions import same_version
from octopus_pack.package_result import PackageResult

log = logging.getLogger(__name__)

BUILD_ENVIRONMENT = "BitBucket"  # the spelling Octopus itself uses for Bitbucket Pipelines
PREVIOUS_RECORDS_LOOKED_AT = 10


def build_information_payload(
    package: PackageResult, build: BuildContext, commits: list[Commit], mode: OverwriteMode, head: str | None = None
) -> dict[str, Any]:
    """The POST body: package identity at the top level, the build's facts wrapped in OctopusBuildInformation.

    `head` is the commit git checked out, used when BITBUCKET_COMMIT is not set (a run outside Pipelines).
    A fact we do not know is left out rather than sent as null, as go-octopusdeploy does (`omitempty` on every
    field but Commits: pkg/buildinformation/octopus_build_information.go).
    """
    facts = {
        "BuildEnvironment": BUILD_ENVIRONMENT,
        "BuildNumber": build.build_number,
        "BuildUrl": build.build_url,
        "Branch": build.branch,
        "VcsType": "Git",
        "VcsRoot": build.vcs_root,
        "VcsCommitNumber": build.commit or head,
    }
    info: dict[str, Any] = {name: value for name, value in facts.items() if value}
    info["Commits"] = [{"Id": commit.id, "Comment": commit.comment} for commit in commits]
    return {
        "PackageId": package.package_id,
        "Version": package.version,
        "OverwriteMode": mode.value,
        "OctopusBuildInformation": info,
    }


BUILD_INFORMATION_SINCE = "2019.9"
"""Octopus.Client: OctopusBuildInformation.BuildInformationRequiresOctopusVersion (Model/BuildInformation)."""


def push_build_information(
    client: OctopusClient, space: Space, package: PackageResult, build: BuildContext, settings: OctopusSettings
) -> BuildInformationOutcome:
    """Find the commits since the previous build of this package, and push them with the build's facts."""
    what = f"build information for {package.package_id} {package.version}"
    if not space.links.has("BuildInformation"):
        log.warning(f"The Octopus server has no build information (Octopus {BUILD_INFORMATION_SINCE} or newer adds "
                    f"it), so the {what} is not sent: set PUSH_BUILD_INFORMATION: 'false' to silence this warning.")
        return BuildInformationOutcome.UNSUPPORTED
    found = _commits(client, space, package, build, settings.commit_limit)
    if found is None:
        log.info(f"No build information is sent for {package.package_id} {package.version}: there is no commit to "
                 "describe (no BITBUCKET_COMMIT and no git repository in the clone folder).")
        return BuildInformationOutcome.NO_COMMIT
    commits, head = found
    body = build_information_payload(package, build, commits, settings.overwrite_mode, head)
    info = body["OctopusBuildInformation"]
    mode = settings.overwrite_mode
    in_query = space.links.takes("BuildInformation", "overwriteMode")  # the body's OverwriteMode is always sent
    path = space.links.expand("BuildInformation", overwriteMode=mode.value if in_query else None)
    settled = _settled_by_server_record(client, space, package, info, mode, what)
    if settled is not None:
        return settled

    def send() -> requests.Response:
        return client.post_json(path, {}, body)

    def server_has_it() -> bool:
        record = _record(client, space, package.package_id, package.version)
        return record is not None and same_record(record, info)

    response = post_with_recovery(client, settings, what, send, server_has_it)
    if response is None:
        return BuildInformationOutcome.PUSHED
    if response.status_code >= 300:
        raise _refusal(client, space, mode, what, response)
    record = json_object(response)
    if record is None or not same_name(record.get("PackageId"), package.package_id) \
            or not same_version(record.get("Version"), package.version):
        # Unreadable, or not our record: settled by the look-up used after a dropped connection.
        if not server_has_it():
            raise not_octopus(response, f"the {what}", "the build information record for this package and version",
                              client.without_secret)
        log.info(f"Octopus's answer to the {what} could not be read, but the server holds our record.")
        record = _record(client, space, package.package_id, package.version) or {}
    kept = overwrite.kept_instead(mode, same_record(record, info))
    note = " (OVERWRITE_MODE IgnoreIfExists: an existing record is kept)" if kept else ""
    log.info(f"Pushed {what}: {_count(len(commits))}, branch {build.branch or '(none)'}, "
             f"build {build.build_number or '(none)'}{note}.")
    return BuildInformationOutcome.KEPT if kept else BuildInformationOutcome.PUSHED


COMPARED_FIELDS = ("BuildEnvironment", "BuildNumber", "BuildUrl", "Branch", "VcsType", "VcsRoot", "VcsCommitNumber")


def same_record(record: dict[str, Any], info: dict[str, Any]) -> bool:
    """Does the server's record say what we would send? The server adds links and dates, so only our facts count."""
    commits = [str(c.get("Id")) for c in record.get("Commits") or [] if isinstance(c, dict)]
    return all((record.get(key) or None) == (info.get(key) or None) for key in COMPARED_FIELDS) and commits == [
        str(c["Id"]) for c in info["Commits"]
    ]


def _settled_by_server_record(
    client: OctopusClient, space: Space, package: PackageResult, info: dict[str, Any], mode: OverwriteMode, what: str
) -> BuildInformationOutcome | None:
    """The outcome when the record already on the server decides the push: identical (a re-run) or kept."""
    record = _record(client, space, package.package_id, package.version)
    verdict = overwrite.before_sending(mode, record is not None, record is not None and same_record(record, info))
    if verdict is Verdict.IDENTICAL:
        log.info(f"Octopus already holds identical {what} (space {space}): nothing to send.")
        return BuildInformationOutcome.IDENTICAL
    if verdict is Verdict.REFUSE:
        assert record is not None
        raise PipeError(
            f"{what} is already in Octopus (space {space}) from another build (build {record.get('BuildNumber')}, "
            f"commit {str(record.get('VcsCommitNumber') or '?')[:12]}) and OVERWRITE_MODE is FailIfExists, so "
            "nothing was sent: set OVERWRITE_MODE: 'IgnoreIfExists' to keep it or 'OverwriteExisting' to "
            "replace it, or give this build a new VERSION."
        )
    if verdict is Verdict.KEEP:
        assert record is not None
        log.info(f"{what} from build {record.get('BuildNumber')} is already in Octopus and is kept "
                 "(OVERWRITE_MODE IgnoreIfExists).")
        return BuildInformationOutcome.KEPT
    return None


def _commits(
    client: OctopusClient, space: Space, package: PackageResult, build: BuildContext, limit: int
) -> tuple[list[Commit], str | None] | None:
    """The commits to send, newest first, and the head commit git found (None without a repository).

    None when there is no build to describe: no BITBUCKET_COMMIT and no git repository.
    """
    previous = _previous_build(client, space, package)
    since = previous[1] if previous else None
    try:
        history = read_history(build.clone_dir, build.commit, since, limit)
    except NoGitRepository as error:
        if not build.commit:
            return None
        log.warning(f"Build information carries no commit messages: {error}. Only the commit from "
                    "BITBUCKET_COMMIT is sent.")
        return ([Commit(id=build.commit, comment="")] if build.commit else []), None
    except Exception as error:  # a damaged or unusual clone must not stop the push: commits are a nicety
        log.warning(f"Could not read the git history in {build.clone_dir} ({type(error).__name__}: {error}); "
                    "build information carries only the commit from BITBUCKET_COMMIT.")
        return ([Commit(id=build.commit, comment="")] if build.commit else []), None
    _explain(history, previous, limit)
    return history.commits, history.head


def _explain(history: CommitHistory, previous: tuple[str, str] | None, limit: int) -> None:
    if history.note:
        log.info(f"Build information lists only commit {history.head[:12]}: {history.note}.")
    elif previous and not history.commits:
        log.info(f"No new commits since version {previous[0]}, built from the same commit {history.head[:12]}.")
    elif previous:
        log.info(f"Build information lists {_count(len(history.commits))} since version {previous[0]} "
                 f"(commit {previous[1][:12]}).")
    if history.capped:
        log.info(f"BUILD_INFORMATION_COMMIT_LIMIT caps the list at the newest {limit} commits; older ones since "
                 "the previous build are left out.")


def _previous_build(client: OctopusClient, space: Space, package: PackageResult) -> tuple[str, str] | None:
    """(version, commit) of the most recent other build information for this package ID, if the server has one."""
    try:
        page = client.get_json(space.links.expand(
            "BuildInformation", packageId=package.package_id, skip=0, take=PREVIOUS_RECORDS_LOOKED_AT
        ))
    except (OctopusApiError, PipeError) as error:
        log.warning(f"Could not read earlier build information ({error}); sending the triggering commit only.")
        return None
    items = page.get("Items") if isinstance(page, dict) else None
    candidates = [
        item for item in (items or [])
        if isinstance(item, dict)
        and str(item.get("PackageId", "")).casefold() == package.package_id.casefold()
        and not same_version(item.get("Version"), package.version)
        and item.get("VcsCommitNumber")
    ]  # fmt: skip
    if not candidates:
        return None
    dated = [(when, candidate) for candidate in candidates if (when := _created(candidate)) is not None]
    newest = max(dated, key=lambda pair: pair[0])[1] if len(dated) == len(candidates) else candidates[0]
    return str(newest["Version"]), str(newest["VcsCommitNumber"])


def _created(record: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(record.get("Created")))
    except ValueError:
        return None


def _record(client: OctopusClient, space: Space, package_id: str, version: str) -> dict[str, Any] | None:
    """The server's build information for exactly this package ID and version, if any (None when it cannot say).

    First filtered by the version as we write it, then the newest records of the ID unfiltered: a server that
    stores our 1.0 as 1.0.0.0 does not match the text filter "1.0.0.0"-wise.
    """
    for version_filter in (version, None):
        try:
            page = client.get_json(space.links.expand(
                "BuildInformation", packageId=package_id, filter=version_filter, skip=0, take=100
            ))
        except (OctopusApiError, PipeError) as error:
            log.debug(f"Could not look up {package_id} {version}'s build information: {error}")
            return None
        for item in (page.get("Items") or []) if isinstance(page, dict) else []:
            if isinstance(item, dict) and same_name(item.get("PackageId"), package_id) \
                    and same_version(item.get("Version"), version):
                return item
    return None


def _refusal(
    client: OctopusClient, space: Space, mode: OverwriteMode, what: str, response: requests.Response
) -> PipeError:
    status, text = response.status_code, error_text(response)
    if overwrite.refused_as_existing(mode, status in (400, 409) and "already exists" in text.lower()):
        return PipeError(
            f"{what} is already in Octopus (space {space}) and OVERWRITE_MODE is FailIfExists: set "
            f"OVERWRITE_MODE: 'IgnoreIfExists' to keep it or 'OverwriteExisting' to replace it. Octopus said: {text}"
        )
    if status == 401:
        return key_rejected(client.server, text)
    if status == 403:
        needed = overwrite.needed_permission(mode, "BuildInformationPush", "BuildInformationAdminister")
        return permission_refused(f"push {what}", space, needed, text)
    return PipeError(f"Octopus refused {what} (HTTP {status}): {text}")


def _count(n: int) -> str:
    return f"{n} commit" if n == 1 else f"{n} commits"
