"""Retry a POST after a drop, a 5xx or a 429, but only after asking the server whether it already took it."""

import logging
from collections.abc import Callable

import requests

from octopus_pack.errors import PipeError
from octopus_pack.octopus.answers import error_text
from octopus_pack.octopus.client import RATE_LIMITED, RETRIED_STATUSES, OctopusClient, TransferInterrupted
from octopus_pack.octopus.settings import OctopusSettings

log = logging.getLogger(__name__)


def post_with_recovery(
    client: OctopusClient,
    settings: OctopusSettings,
    what: str,
    send: Callable[[], requests.Response],
    server_has_it: Callable[[], bool],
) -> requests.Response | None:
    """The server's answer to `send()`, or None when an interrupted attempt turned out to have succeeded.

    A blind retry is wrong both ways: under FailIfExists it would be refused as a duplicate of what the
    server stored before the connection dropped, and under the other modes it would upload twice.
    Bounded: retries + 1 attempts, each ending OCTOPUS_TIMEOUT seconds after the last byte was sent (or when a
    send waits that long), with pauses of backoff_factor * 2**(n-1) seconds, or the Retry-After of a 429, between
    them; never longer than MAX_WAIT_SECONDS (a longer Retry-After ends the run: client.pause_before_retry).
    """
    attempts = settings.retries + 1
    for attempt in range(1, attempts + 1):
        response: requests.Response | None = None
        try:
            response = send()
        except TransferInterrupted as error:
            problem, timed_out = f"the connection failed ({error})", error.timed_out
        else:
            if response.status_code not in RETRIED_STATUSES and response.status_code != RATE_LIMITED:
                return response
            problem, timed_out = f"HTTP {response.status_code} ({error_text(response)})", False
        if server_has_it():
            log.info(f"Pushing {what} was interrupted ({problem}), but the server already has it: "
                     "nothing more to do.")
            return None
        if attempt == attempts:
            hint = (f" If the server needs longer, raise OCTOPUS_TIMEOUT (now {settings.timeout:g} s)."
                    if timed_out else "")
            raise PipeError(f"Could not push {what} to {client.server}: {problem}, after {attempts} attempts.{hint}")
        delay = client.pause_before_retry(response, attempt, f"pushing {what} again")
        log.warning(f"Pushing {what} failed: {problem}. Trying again in {delay:g} s "
                    f"(attempt {attempt + 1} of {attempts}).")
        client.sleep(delay)
    raise AssertionError("unreachable")
