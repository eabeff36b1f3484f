"""Push a package to the built-in repository: a delta when worth it, else the whole file, verified after drops."""

import base64
import binascii
import logging
import tempfile
from enum import Enum
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import requests

from octopus_pack.config.octopus import OctopusSettings, OverwriteMode
from octopus_pack.errors import PipeError, key_rejected, permission_refused
from octopus_pack.octopus.answers import json_object, not_octopus, same_name
from octopus_pack.octopus.client import OctopusApiError, OctopusClient, TransferInterrupted
from octopus_pack.octopus.package_lookup import LookupFailed, find_package
from octopus_pack.octopus.post_retry import post_with_recovery
from octopus_pack.octopus.spaces import Space
from octopus_pack.package_result import PackageResult
from octopus_pack.progress import UploadProgress
from octopus_pack.sizes import format_size

log = logging.getLogger(__name__)


class PackageOutcome(Enum):
    """What one package push did, as the closing line counts it."""

    UPLOADED = "uploaded"
    UPLOADED_AS_DELTA = "uploaded as a delta"
    IDENTICAL = "already there with identical content"
    KEPT = "already there with other content, kept (OVERWRITE_MODE IgnoreIfExists)"


class LocalPackage:
    """The file being pushed, with its SHA-1 (what Octopus reports as Hash), computed while it was written."""

    def __init__(self, package: PackageResult) -> None:
        self.path = Path(package.path)
        self.file_name = package.upload_name
        self.package_id = package.package_id
        self.version = package.version
        self.size = package.size
        self.sha1 = package.sha1


class PackagePush:
    """One package pushed to one space: looked up first, then a delta when worth it, else the whole file."""

    def __init__(self, client: OctopusClient, space: Space, package: PackageResult, settings: OctopusSettings) -> None:
        self.client = client
        self.space = space
        self.package = LocalPackage(package)
        self.settings = settings
        self.params = {"overwriteMode": settings.overwrite_mode.value}

    def run(self) -> PackageOutcome:
        log.info(
            f"Pushing {self.package.file_name} ({format_size(self.package.size)}) to space {self.space} "
            f"(OVERWRITE_MODE {self.settings.overwrite_mode.value})."
        )
        settled = self._settled_by_server_copy()
        if settled is not None:
            return settled
        if self.settings.delta_compression and (through_delta := self._push_delta()) is not None:
            return through_delta
        return self._push_whole()

    # --- the server's copy ----------------------------------------------------------------------------------------

    def _settled_by_server_copy(self) -> PackageOutcome | None:
        """The outcome when what the server already holds decides the push without an upload (re-runs, keep modes)."""
        try:
            existing = find_package(self.client, self.space, self.package.package_id, self.package.version)
        except LookupFailed as error:
            log.warning(f"Could not check whether the server already has {self.package.file_name} ({error}); "
                        "uploading, and the server applies OVERWRITE_MODE itself.")
            return None
        if existing is None:
            return None
        name, mode, ours = self.package.file_name, self.settings.overwrite_mode, self.package.sha1
        if existing.sha1 == ours:
            log.info(f"Octopus already holds identical content for {name} (space {self.space}, SHA-1 {ours}): "
                     "nothing to upload.")
            return PackageOutcome.IDENTICAL
        if mode is OverwriteMode.FAIL_IF_EXISTS:
            raise PipeError(
                f"{name} is already in Octopus (space {self.space}) with different content (SHA-1 "
                f"{existing.sha1 or 'not reported'}, this build {ours}) and OVERWRITE_MODE is FailIfExists, so "
                "nothing was uploaded: set OVERWRITE_MODE: 'IgnoreIfExists' to keep it or 'OverwriteExisting' to "
                "replace it, or give this build a new VERSION."
            )
        if mode is OverwriteMode.IGNORE_IF_EXISTS:
            self._warn_kept_different()
            return PackageOutcome.KEPT
        log.info(f"{name} is on the server with different content: replacing it (OVERWRITE_MODE OverwriteExisting).")
        return None

    def _server_has_package(self) -> bool:
        """After a cut-off upload: does the server hold this ID and version with our exact bytes?"""
        try:
            existing = find_package(self.client, self.space, self.package.package_id, self.package.version)
        except LookupFailed as error:
            log.debug(f"Could not check the package on the server: {error}")
            return False
        return existing is not None and existing.sha1 == self.package.sha1

    # --- delta ----------------------------------------------------------------------------------------------------

    def _push_delta(self) -> PackageOutcome | None:
        """The outcome when the server now has the package; None to fall back to uploading the whole file."""
        signature = self._delta_signature()
        if signature is None:
            return None
        base_version, signature_bytes = signature
        from octopus_pack.octodiff import OctodiffError, build_delta  # numpy loads only when a delta is built

        with tempfile.TemporaryFile(prefix="octopus-pack-", suffix=".octodelta") as delta:
            try:
                delta_size = build_delta(
                    self.package.path, signature_bytes, delta, new_file_sha1=bytes.fromhex(self.package.sha1)
                )
            except OctodiffError as error:
                log.warning(f"Could not build a delta against version {base_version} ({error}); "
                            "uploading the whole package instead.")
                return None
            limit = self.settings.delta_size_limit
            if not self.package.size or delta_size > limit * self.package.size:
                log.info(
                    f"A delta against version {base_version} would be {format_size(delta_size)}, more than "
                    f"{limit:.0%} of the package: uploading the whole package instead."
                )
                return None
            log.info(f"Uploading a {format_size(delta_size)} delta against version {base_version}.")
            delta.seek(0)
            path = f"{self.space.api}/packages/{_segment(self.package.package_id)}/{_segment(base_version)}/delta"
            try:
                response = self._post(path, delta, delta_size)
            except TransferInterrupted as error:
                if self._server_has_package():
                    log.info(f"The delta upload was cut off ({error}), but the server has the package with the "
                             "same SHA-1: nothing more to do.")
                    return PackageOutcome.UPLOADED_AS_DELTA
                log.warning(f"The delta upload failed ({error}); uploading the whole package instead.")
                return None
        if response.status_code < 300 or response.status_code in (401, 403, 409) or _says_exists(response, self.client):
            # A whole upload would be refused the same way. Unlike Octopus.Client we do fall back on other 400s:
            # one may mean the server could not apply our delta, and then the whole file still gets through.
            saving = f"uploaded {format_size(delta_size)} delta instead of {format_size(self.package.size)}"
            return self._conclude(response, saving, PackageOutcome.UPLOADED_AS_DELTA)
        log.warning(
            f"The delta upload was refused (HTTP {response.status_code}: {self.client.error_text(response)}); "
            "uploading the whole package instead."
        )
        return None

    def _delta_signature(self) -> tuple[str, bytes] | None:
        """The server's chosen base version and its Octodiff signature, or None to upload the whole file."""
        package = self.package
        path = f"{self.space.api}/packages/{_segment(package.package_id)}/{_segment(package.version)}/delta-signature"
        try:
            answer = self.client.get_json(path)
        except OctopusApiError as error:
            if error.status == 404:
                log.info(f"No earlier version of {package.package_id} on the server: uploading the whole package.")
            else:
                log.warning(f"Could not get a delta signature (HTTP {error.status}: {error.message}); "
                            "uploading the whole package instead.")
            return None
        try:
            return str(answer["BaseVersion"]), base64.b64decode(answer["Signature"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            log.warning("The server's delta signature could not be read; uploading the whole package instead.")
            return None

    # --- whole file -----------------------------------------------------------------------------------------------

    def _push_whole(self) -> PackageOutcome:
        """Upload the file; retries go through post_with_recovery, which first asks what the server kept."""
        def send() -> requests.Response:
            with self.package.path.open("rb") as stream:
                return self._post(f"{self.space.api}/packages/raw", stream, self.package.size)

        response = post_with_recovery(self.client, self.settings, self.package.file_name, send,
                                      self._server_has_package)
        if response is None:
            return PackageOutcome.UPLOADED
        return self._conclude(response, f"uploaded {format_size(self.package.size)}", PackageOutcome.UPLOADED)

    def _post(self, path: str, stream: BinaryIO, size: int) -> requests.Response:
        progress = UploadProgress(self.package.file_name, size, self.settings.progress_interval)
        return self.client.post_file(path, self.params, self.package.file_name, stream, progress)

    # --- answers --------------------------------------------------------------------------------------------------

    def _conclude(self, response: requests.Response, transferred: str, uploaded: PackageOutcome) -> PackageOutcome:
        """Report a verified success and return its outcome, or raise the one-line PipeError that explains the refusal.
        """
        if response.status_code >= 300:
            raise self._refusal(response)
        name, mode, ours = self.package.file_name, self.settings.overwrite_mode, self.package.sha1
        stored = self._verified(response)
        if stored != ours:
            if mode is OverwriteMode.IGNORE_IF_EXISTS:  # another run stored its build between our look-up and upload
                self._warn_kept_different()
                return PackageOutcome.KEPT
            raise PipeError(
                f"Octopus answered the upload of {name} with SHA-1 {stored or '(none)'}, but this build's is {ours}: "
                "the file was changed on the way or replaced at the same moment by another run. Run the step again."
            )
        if response.status_code == 201:
            log.info(f"Pushed {name} to Octopus: created ({transferred}).")
        elif mode is OverwriteMode.OVERWRITE_EXISTING:
            log.info(f"Pushed {name} to Octopus: replaced the existing package ({transferred}).")
        elif mode is OverwriteMode.IGNORE_IF_EXISTS:
            log.info(f"Octopus already held identical content for {name}; it was kept (OVERWRITE_MODE IgnoreIfExists).")
            return PackageOutcome.IDENTICAL
        else:
            log.info(f"Pushed {name} to Octopus: created ({transferred}).")
        return uploaded

    def _verified(self, response: requests.Response) -> str:
        """The stored copy's SHA-1 from an Octopus package resource for this ID and version; PipeError otherwise."""
        body = json_object(response)
        package = self.package
        named = body and (body.get("PackageId") or body.get("NuGetPackageId"))
        if not body or not same_name(named, package.package_id) or not same_name(body.get("Version"), package.version) \
                or not isinstance(body.get("Hash"), str):
            raise not_octopus(response, f"the upload of {package.file_name}",
                              f"a package resource for {package.package_id} {package.version} with its Hash",
                              self.client.without_secret)
        return body["Hash"].lower()

    def _warn_kept_different(self) -> None:
        log.warning(
            f"{self.package.file_name} was already on the server and was kept (OVERWRITE_MODE IgnoreIfExists), but "
            "its content differs from this build: use OVERWRITE_MODE: 'OverwriteExisting' to replace it."
        )

    def _refusal(self, response: requests.Response) -> PipeError:
        status, text, name = response.status_code, self.client.error_text(response), self.package.file_name
        exists = status == 409 or _says_exists(response, self.client)
        if exists and self.settings.overwrite_mode is OverwriteMode.FAIL_IF_EXISTS:
            return PipeError(
                f"{name} is already in Octopus (space {self.space}) and OVERWRITE_MODE is FailIfExists: set "
                "OVERWRITE_MODE: 'IgnoreIfExists' to keep the existing package or 'OverwriteExisting' to "
                f"replace it. Octopus said: {text}"
            )
        if status == 401:
            return key_rejected(self.client.server, text)
        if status == 403:
            needed = "BuiltInFeedAdminister" if self.settings.overwrite_mode is OverwriteMode.OVERWRITE_EXISTING \
                else "BuiltInFeedPush"
            return permission_refused(f"push {name}", self.space, needed, text)
        if status == 413:
            return PipeError(
                f"Octopus refused {name} as too large (HTTP 413: {text}): raise the request size limit of the "
                "Octopus server (webMaxRequestBodySizeInBytes) or of the proxy in front of it."
            )
        return PipeError(f"Octopus refused {name} (HTTP {status}): {text}")


def push_package(client: OctopusClient, space: Space, package: PackageResult,
                 settings: OctopusSettings) -> PackageOutcome:
    """Push `package` to `space`; logs what happened, raises PipeError when the server did not take it."""
    return PackagePush(client, space, package, settings).run()


def _says_exists(response: requests.Response, client: OctopusClient) -> bool:
    """Servers before 3.4 answer a duplicate with 400 instead of 409; only the text tells."""
    return response.status_code == 400 and "already exists" in client.error_text(response).lower()


def _segment(text: str) -> str:
    """One URL path segment: a version such as 1.0.0+build.5 must keep its '+' (sent as %2B)."""
    return quote(text, safe="")
