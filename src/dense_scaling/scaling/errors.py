"""The one error a user of the scaling tools can cause."""


class ScalingInputError(ValueError):
    """Bad input to a fit, a collection or a budget analysis.

    The message names the offending thing (a path, a parameter, a group of runs)
    and says how to fix it; the CLI prints it as ``error: <message>`` and exits 2.
    """
