"""Errors a user can act on.

Every failure edgec expects (bad file, unsupported operator, wrong input, tampered artifact,
missing toolchain) is an ``EdgecError``. The CLI prints its message and exits with its
``exit_code``; no traceback reaches the user. Anything else is a bug.
"""
from __future__ import annotations


class EdgecError(Exception):
    """Base class: a message meant for the user and the CLI exit code that goes with it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class UserInputError(EdgecError):
    """A path, option or value given by the user is wrong (file missing, would overwrite...)."""

    exit_code = 2


class ModelFormatError(EdgecError):
    """The file is not a model we can read, or it is truncated/corrupt."""

    exit_code = 3


class UnsupportedOperatorError(EdgecError):
    """The model uses operators the importer cannot convert."""

    exit_code = 4

    def __init__(self, unsupported: dict[str, str], frontend: str = "onnx") -> None:
        self.unsupported = dict(unsupported)
        lines = [f"  {op} (e.g. node '{node}')" for op, node in sorted(self.unsupported.items())]
        super().__init__(
            f"the {frontend} model uses {len(lines)} unsupported operator type(s):\n" + "\n".join(lines),
            hint="replace or remove these nodes before compiling, or open an issue naming the op",
        )


class InputSpecError(EdgecError):
    """Inputs given at run time do not match the artifact's signature."""

    exit_code = 5


class ArtifactError(EdgecError):
    """The artifact directory is missing, incomplete, tampered with or of another schema."""

    exit_code = 6


class ToolchainError(EdgecError):
    """A cross compiler, emulator or other external tool is missing."""

    exit_code = 7


class VerificationError(EdgecError):
    """Compiled outputs disagree with the reference runtime beyond tolerance."""

    exit_code = 8
