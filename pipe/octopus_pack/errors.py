"""User-facing errors: raised anywhere, printed once by pipe.py as a single line with exit code 1."""

import re


class PipeError(Exception):
    """A problem the user can fix; the message names it and says how, in one line."""



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
            f"the API key's user may not {action}: it lacks the {reported.group(1)} permission in space {space}. "
            f"Give the user a team role that has it. Octopus said: {server_said}"
        )
    return PipeError(
        f"the API key's user may not {action} (HTTP 403: {server_said}): it needs the {needed} permission in "
        f"space {space}."
    )
