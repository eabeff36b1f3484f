"""Push a package to the built-in repository: a delta when worth it, else the whole file, verified after drops."""

import base64
import binascii
import logging
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

import requests

from octopus_pack.errors import PipeError, key_rejected, permission_refused
from octopus_pack.octopus import overwrite
from octopus_pack.octopus.answers import error_text, json_object, not_octopus
from octopus_pack.octopus.client import RATE_LIMITED, OctopusApiError, OctopusClient, TransferInterrupted
from octopus_pack.octopus.overwrite import Verdict
from octopus_pack.octopus.package_lookup import LookupFailed, describes, find_package
from octopus_pack.octopus.post_retry import post_with_recovery
from octopus_pack.octopus.push_result import PackageOutcome, PackagePushed, Transfer
from octopus_pack.octopus.settings import OctopusSettings, OverwriteMode
from octopus_pack.octopus.spaces import Space
from octopus_pack.package_result import PackageResult
from octopus_pack.progress import UploadProgress
from octopus_pack.sizes import format_size

log = logging.getLogger(__name__)


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
        self.outcome = PackagePushed(PackageOutcome.UPLOADED)
        self._warned_ignore = False

    def run(self) -> PackagePushed:
        log.info(
            f"Pushing {self.package.file_name} ({format_size(self.package.size)}) to space {self.space} "
            f"(OVERWRITE_MODE {self.settings.overwrite_mode.value})."
        )
        if self._settled_by_server_copy():
            return self.outcome
        if self.settings.delta_compression and self._push_delta():
            return self.outcome
        self._push_whole()
        return self.outcome

    def _mode(self, link: str) -> dict[str, str]:
        """`overwriteMode` where the link's template takes it, else Octopus.Client's legacy `replace`.

        Servers before 2019.7.9 read only `replace` (Octopus.Client: BuiltInPackageRepositoryRepository.cs and
        Model/OverwriteMode.cs); they have no IgnoreIfExists, which becomes replace=false with a warning.
        """
        mode, links = self.settings.overwrite_mode, self.space.links
        if links.takes(link, "overwriteMode"):
            return {"overwriteMode": mode.value}
        if mode is OverwriteMode.IGNORE_IF_EXISTS and not self._warned_ignore:
            self._warned_ignore = True
            log.warning("OVERWRITE_MODE IgnoreIfExists needs Octopus 2019.7.9 or newer; this server only knows "
                        "replace=false, so an existing package is refused rather than kept, unless it is identical.")
        return {"replace": "true" if mode is OverwriteMode.OVERWRITE_EXISTING else "false"}

    # --- the server's copy ----------------------------------------------------------------------------------------

    def _settled_by_server_copy(self) -> bool:
        """True when what the server already holds decides the push without an upload (re-runs, keep modes)."""
        try:
            existing = find_package(self.client, self.space, self.package.package_id, self.package.version)
        except LookupFailed as error:
            log.warning(f"Could not check whether the server already has {self.package.file_name} ({error}); "
                        "uploading, and the server applies OVERWRITE_MODE itself.")
            return False
        if existing is None:
            return False
        name, ours = self.package.file_name, self.package.sha1
        comparable = existing.sha1 is not None
        verdict = overwrite.before_sending(self.settings.overwrite_mode, True, existing.sha1 == ours if comparable
                                           else None)
        if verdict is Verdict.IDENTICAL:
            log.info(f"Octopus already holds identical content for {name} (space {self.space}, SHA-1 {ours}): "
                     "nothing to upload.")
            self.outcome = PackagePushed(PackageOutcome.IDENTICAL)
            return True
        if verdict is Verdict.REFUSE and not comparable:
            raise PipeError(
                f"{name} is already in Octopus (space {self.space}, version {existing.version}), but the server "
                "reports no Hash and its file could not be read back (FeedView permission), so whether it is "
                "identical to this build could not be verified and nothing was uploaded: give the credential's user "
                "FeedView, set OVERWRITE_MODE: 'OverwriteExisting' to replace it, or give this build a new VERSION."
            )
        if verdict is Verdict.REFUSE:
            raise PipeError(
                f"{name} is already in Octopus (space {self.space}) with different content (SHA-1 "
                f"{existing.sha1}, this build {ours}) and OVERWRITE_MODE is FailIfExists, so "
                "nothing was uploaded: set OVERWRITE_MODE: 'IgnoreIfExists' to keep it or 'OverwriteExisting' to "
                "replace it, or give this build a new VERSION."
            )
        if verdict is Verdict.KEEP:
            if comparable:
                self._warn_kept_different()
            else:
                log.warning(f"{name} is already on the server (version {existing.version}) and is kept "
                            "(OVERWRITE_MODE IgnoreIfExists), but the server reports no Hash and its file could not be "
                            "read back, so whether it matches this build could not be verified.")
            self.outcome = PackagePushed(PackageOutcome.KEPT)
            return True
        what = "different content" if comparable else "content that could not be compared"
        log.info(f"{name} is on the server with {what}: replacing it (OVERWRITE_MODE OverwriteExisting).")
        return False

    def _server_has_package(self) -> bool:
        """After a cut-off upload: does the server hold this ID and version with our exact bytes?"""
        try:
            existing = find_package(self.client, self.space, self.package.package_id, self.package.version)
        except LookupFailed as error:
            log.debug(f"Could not check the package on the server: {error}")
            return False
        return existing is not None and existing.sha1 == self.package.sha1

    # --- delta ----------------------------------------------------------------------------------------------------

    def _push_delta(self) -> bool:
        """True when the server now has the package; False to fall back to uploading the whole file."""
        links = self.space.links
        if not (links.has("PackageDeltaSignature") and links.has("PackageDeltaUpload")):
            log.info("The server offers no delta upload (no PackageDeltaSignature/PackageDeltaUpload link): "
                     "uploading the whole package.")
            return False
        signature = self._delta_signature()
        if signature is None:
            return False
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
                return False
            limit = self.settings.delta_size_limit
            if not self.package.size or delta_size > limit * self.package.size:
                log.info(
                    f"A delta against version {base_version} would be {format_size(delta_size)}, more than "
                    f"{limit:.0%} of the package: uploading the whole package instead."
                )
                return False
            log.info(f"Uploading a {format_size(delta_size)} delta against version {base_version}.")
            delta.seek(0)
            path = links.expand("PackageDeltaUpload", packageId=self.package.package_id, baseVersion=base_version,
                                **self._mode("PackageDeltaUpload"))
            try:
                response = self._post(path, delta, delta_size)
            except TransferInterrupted as error:
                if self._server_has_package():
                    log.info(f"The delta upload was cut off ({error}), but the server has the package with the "
                             "same SHA-1: nothing more to do.")
                    self.outcome = PackagePushed(PackageOutcome.UPLOADED, Transfer.DELTA, delta_size)
                    return True
                log.warning(f"The delta upload failed ({error}); uploading the whole package instead.")
                return False
        if response.status_code < 300 or response.status_code in (401, 403, 409) or _says_exists(response, self.client):
            # A whole upload would be refused the same way. Unlike Octopus.Client we do fall back on other 400s:
            # one may mean the server could not apply our delta, and then the whole file still gets through.
            saving = f"uploaded {format_size(delta_size)} delta instead of {format_size(self.package.size)}"
            self._conclude(response, saving, PackagePushed(PackageOutcome.UPLOADED, Transfer.DELTA, delta_size))
            return True
        if response.status_code == RATE_LIMITED:  # wait as asked (or stop, past the cap), then the whole upload
            delay = self.client.pause_before_retry(response, 1, "uploading the whole package")
            log.warning(f"The delta upload was rate-limited (HTTP 429): uploading the whole package in {delay:g} s "
                        "instead.")
            self.client.sleep(delay)
            return False
        log.warning(
            f"The delta upload was refused (HTTP {response.status_code}: {error_text(response)}); "
            "uploading the whole package instead."
        )
        return False

    def _delta_signature(self) -> tuple[str, bytes] | None:
        """The server's chosen base version and its Octodiff signature, or None to upload the whole file."""
        package = self.package
        path = self.space.links.expand("PackageDeltaSignature", packageId=package.package_id, version=package.version)
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

    def _push_whole(self) -> None:
        """Upload the file; retries go through post_with_recovery, which first asks what the server kept."""
        path = self.space.links.expand("PackageUpload", **self._mode("PackageUpload"))

        def send() -> requests.Response:
            with self.package.path.open("rb") as stream:
                return self._post(path, stream, self.package.size)

        whole = PackagePushed(PackageOutcome.UPLOADED, Transfer.WHOLE, self.package.size)
        response = post_with_recovery(self.client, self.settings, self.package.file_name, send,
                                      self._server_has_package)
        if response is None:
            self.outcome = whole
        else:
            self._conclude(response, f"uploaded {format_size(self.package.size)}", whole)

    def _post(self, path: str, stream: BinaryIO, size: int) -> requests.Response:
        progress = UploadProgress(self.package.file_name, size, self.settings.progress_interval)
        return self.client.post_file(path, {}, self.package.file_name, stream, progress)

    # --- answers --------------------------------------------------------------------------------------------------

    def _conclude(self, response: requests.Response, transferred: str, outcome: PackagePushed) -> None:
        """Report a verified success, or raise the one-line PipeError that explains the refusal."""
        if response.status_code >= 300:
            raise self._refusal(response)
        name, mode, ours = self.package.file_name, self.settings.overwrite_mode, self.package.sha1
        stored = self._verified(response)
        self.outcome = outcome
        if overwrite.kept_instead(mode, stored == ours):
            self._warn_kept_different()
            self.outcome = PackagePushed(PackageOutcome.KEPT, outcome.transfer, outcome.bytes_sent)
            return
        if stored != ours:
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
        else:
            log.info(f"Pushed {name} to Octopus: created ({transferred}).")

    def _verified(self, response: requests.Response) -> str:
        """The stored copy's SHA-1 from an Octopus package resource for this ID and version; PipeError otherwise.

        An answer without a Hash, or one that cannot be read at all (the server may have stored the file and
        then failed to write its answer), is settled by the look-up used after a dropped connection: success
        only when the server holds exactly our bytes.
        """
        body = json_object(response)
        package = self.package
        if body is not None and not describes(body, package.package_id, package.version):
            body = None
        reported = body.get("Hash") if body else None
        if isinstance(reported, str) and reported.strip():
            return reported.strip().lower()
        what = "carried no Hash" if body else "could not be read"
        try:
            existing = find_package(self.client, self.space, package.package_id, package.version)
        except LookupFailed as error:
            log.debug(f"Could not look the package up: {error}")
            existing = None
        if existing is not None and existing.sha1 is not None:
            log.info(f"Octopus's answer to the upload of {package.file_name} {what}; the package it holds has "
                     f"SHA-1 {existing.sha1}.")
            return existing.sha1
        if body is None:
            raise not_octopus(response, f"the upload of {package.file_name}",
                              f"a package resource for {package.package_id} {package.version} with its Hash",
                              self.client.without_secret)
        raise PipeError(
            f"Octopus accepted {package.file_name} (HTTP {response.status_code}) but reports no Hash, and the stored "
            "file could not be read back (FeedView permission), so it could not be verified that the server holds "
            "this build's bytes: give the credential's user FeedView, or check the package in Octopus."
        )

    def _warn_kept_different(self) -> None:
        log.warning(
            f"{self.package.file_name} was already on the server and was kept (OVERWRITE_MODE IgnoreIfExists), but "
            "its content differs from this build: use OVERWRITE_MODE: 'OverwriteExisting' to replace it."
        )

    def _refusal(self, response: requests.Response) -> PipeError:
        status, text, name = response.status_code, error_text(response), self.package.file_name
        exists = status == 409 or _says_exists(response, self.client)
        if overwrite.refused_as_existing(self.settings.overwrite_mode, exists):
            return PipeError(
                f"{name} is already in Octopus (space {self.space}) and OVERWRITE_MODE is FailIfExists: set "
                "OVERWRITE_MODE: 'IgnoreIfExists' to keep the existing package or 'OverwriteExisting' to "
                f"replace it. Octopus said: {text}"
            )
        if status == 401:
            return key_rejected(self.client.server, text)
        if status == 403:
            needed = overwrite.needed_permission(self.settings.overwrite_mode, "BuiltInFeedPush",
                                                 "BuiltInFeedAdminister")
            return permission_refused(f"push {name}", self.space, needed, text)
        if status == 413:
            return too_large(name, self.package.size, text)
        return PipeError(f"Octopus refused {name} (HTTP {status}): {text}")


def too_large(name: str, size: int, server_said: str) -> PipeError:
    """A 413, with the server's limit when it states it (Kestrel's text, which Octopus 2026.1's
    webMaxRequestBodySizeInBytes produces: "The max request body size is N bytes"; OctopusDeploy/Issues#9859)."""
    stated = re.search(r"(\d[\d,]*)\s*bytes", server_said)
    limit = f", the server accepts at most {int(stated.group(1).replace(',', '')):,} bytes per request" \
        if stated else ""
    return PipeError(
        f"Octopus refused {name} ({size:,} bytes) as too large: HTTP 413{limit} ({server_said}). Ask the Octopus "
        "administrators to raise webMaxRequestBodySizeInBytes (or the limit of the proxy in front of Octopus), "
        "or make the package smaller."
    )


def push_package(
    client: OctopusClient, space: Space, package: PackageResult, settings: OctopusSettings
) -> PackagePushed:
    """Push `package` to `space`; logs what happened, raises PipeError when the server did not take it."""
    return PackagePush(client, space, package, settings).run()


def _says_exists(response: requests.Response, client: OctopusClient) -> bool:
    """Servers before 3.4 answer a duplicate with 400 instead of 409; only the text tells."""
    return response.status_code == 400 and "already exists" in error_text(response).lower()
