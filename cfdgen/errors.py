"""Errors that reach users: each carries one readable line (several for several violations)."""


class IahemoError(Exception):
    """Base of every error the CLI reports as a message instead of a traceback."""


class CaseError(IahemoError):
    """A case.yaml that violates the schema or points at missing files."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class GeometryError(IahemoError):
    """A surface or construction that cannot be used (not manifold, wrong number of openings, ...)."""


class ConfigError(IahemoError):
    """A configuration value outside its documented range."""


class NoAneurysmError(GeometryError):
    """The vessel has no saccular bulge to isolate (fine for a plain pipe; an error for morphology)."""


class RunStopped(IahemoError):
    """A solver stopped from outside (a signal): nothing is recorded as finished, the run folder is kept to resume."""
