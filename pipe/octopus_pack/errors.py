"""Every exception type the pipe raises on purpose, in one place, and the user-facing refusal messages.

PipeError is printed once by pipe.py as a single line with exit code 1; the others are caught and turned into a
PipeError (or a retry) by the code that knows what they mean.
"""

import re


class PipeError(Exception):
    """A problem the user can fix; the message names it and says how, in one line."""


def shortened(text: str, limit: int = 60) -> str:
    """A value as messages quote it: control characters escaped, long ones cut in the middle, so it stays one line."""
    if not text.isprintable():
        text = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)
    if len(text) <= limit:
        return text
    keep = (limit - 5) // 2
    return f"{text[:keep]}[...]{text[-keep:]}"


MAX_QUOTED_CHARACTERS = 300
"""Server text quoted in a line is bounded: a server may echo megabytes, and a line must stay readable."""


def bounded(text: str, limit: int = MAX_QUOTED_CHARACTERS) -> str:
    """Server text as a line quotes it: at most `limit` characters, then how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()} [... {len(text) - limit:,} more characters]"


class Stopped(BaseException):
    """SIGTERM (a cancelled step): unwinds like KeyboardInterrupt so partial files are removed on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


class OctopusApiError(Exception):
    """The server answered with an error status; `message` is its ErrorMessage and Errors[] on one line."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"HTTP {status} from {method} {path}: {message}")
        self.status = status
        self.method = method
        self.path = path
        self.message = message


class TransferInterrupted(Exception):
    """The connection failed or timed out before an answer came: the server may or may not have the data."""

    def __init__(self, problem: str, timed_out: bool, before_sending: bool = False) -> None:
        super().__init__(problem)
        self.timed_out = timed_out
        self.before_sending = before_sending  # no connection was made (refused, unresolvable): nothing was sent


class NoGitRepository(Exception):
    """There is no readable git repository where the clone should be."""



def key_rejected(server: str, server_said: str) -> PipeError:
    """A 401: the key is wrong, expired or revoked."""
    return PipeError(
        f"OCTOPUS_APIKEY was rejected by {server} ({server_said}): create a new API key in Octopus "
        "(your profile > My API Keys) and update the secured variable."
    )


def permission_refused(action: str, space: object, needed: str, server_said: str) -> PipeError:
    """A 403, naming the missing permission as the server reported it, or else the one `action` needs."""
    reported = re.search(r"Missing permission:\s*(\w+)", server_said)
    if reported:
        return PipeError(
            f"The credential's user may not {action}: it lacks the {reported.group(1)} permission in space {space}. "
            f"Give the user a team role that has it. Octopus said: {server_said}"
        )
    return PipeError(
        f"The credential's user may not {action} (HTTP 403: {server_said}): it needs the {needed} permission in "
        f"space {space}."
    )
