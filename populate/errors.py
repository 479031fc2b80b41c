"""One line, with a hint, for the errors a user can fix: the CLI prints these instead of a traceback.

``explain(err)`` returns that line, or None for an error that is the pipeline's own fault
(the CLI then lets the traceback through). It imports nothing from DataJoint at module
level: a bad DataJoint setting in the environment makes ``import datajoint`` itself fail,
and that is one of the errors explained here. ``-v`` prints the traceback as well.
"""

from __future__ import annotations

import os

_REFUSED = ("connection refused", "can't connect", "could not connect", "is the server running")
_UNREACHABLE = ("name or service not known", "nodename nor servname", "timed out", "timeout expired",
                "no route to host", "network is unreachable", "temporary failure in name resolution")
_CREDENTIALS = ("access denied", "password authentication failed", "no password supplied", "authentication failed")


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _database() -> str:
    host = os.environ.get("DJ_HOST", "")
    backend = os.environ.get("DJ_BACKEND", "mysql")
    port = os.environ.get("DJ_PORT") or ("5432" if backend == "postgresql" else "3306")
    return f"{backend} database at {host}:{port}"


def _user_error_types() -> tuple[type[BaseException], ...]:
    """The pipeline's own errors about user input (each already one line). Only modules
    already imported can have raised one, so nothing is imported here (importing a schema
    module connects, and the connection may be what failed)."""
    import sys

    types: list[type[BaseException]] = []
    imports = [("pipeline.config", "ConfigError"), ("pipeline.device", "DeviceError"),
               ("pipeline.images.tin", "ImageFormatError"), ("pipeline.recordings.published", "RecordingFormatError"),
               ("schemas.settings", "ConfigurationError"), ("schemas.images", "ImageIngestError"),
               ("schemas.recording", "IngestError"), ("schemas.registry", "RegistrationError"),
               ("schemas.saliency", "SaliencyIngestError")]
    for module, name in imports:
        if module in sys.modules and hasattr(sys.modules[module], name):
            types.append(getattr(sys.modules[module], name))
    return tuple(types)


def _pydantic_line(err) -> str:
    problems = []
    for item in err.errors():
        where = ".".join(str(part) for part in item.get("loc", ())) or "setting"
        problems.append(f"{where}={item.get('input')!r}: {item.get('msg', 'invalid')}")
    return ("invalid DataJoint setting " + "; ".join(problems) +
            " (set in the environment or datajoint.json; DJ_BACKEND is mysql or postgresql)")


def explain(err: BaseException) -> str | None:
    """The one line to show for ``err``, or None if it is not the user's to fix."""
    user_types = _user_error_types()
    for cause in _chain(err):
        if user_types and isinstance(cause, user_types):
            return str(cause)
        kind = type(cause)
        text = str(cause).strip()
        lowered = text.lower()
        if kind.__name__ == "ValidationError" and kind.__module__.startswith("pydantic"):
            return _pydantic_line(cause)
        if isinstance(cause, ValueError) and "DJ_STORES" in text:
            return f"{text.splitlines()[0]}: DJ_STORES must be a JSON object that defines the store 'artifacts'"
        if kind.__name__ in ("OperationalError", "InterfaceError") or "LostConnection" in kind.__name__:
            first = text.splitlines()[0] if text else kind.__name__
            if any(word in lowered for word in _CREDENTIALS) or "role" in lowered and "does not exist" in lowered:
                user = os.environ.get("DJ_USER", "(default user)")
                return (f"the {_database()} refused user {user!r} ({first}): check DJ_USER and DJ_PASS "
                        "(the fleet: the WORKER_USER/NOTEBOOK_USER accounts of .env)")
            if any(word in lowered for word in _REFUSED):
                return (f"nothing accepts connections at the {_database()} ({first}): start the server, or fix DJ_HOST "
                        "and DJ_PORT (unset DJ_HOST for the embedded default)")
            if any(word in lowered for word in _UNREACHABLE):
                return (f"the {_database()} cannot be reached ({first}): check DJ_HOST and the network "
                        "(unset DJ_HOST for the embedded default)")
    return None
