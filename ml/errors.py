"""Exceptions the engine raises. ``jobs/`` maps them to job states.

- ``InvalidImage``      -> the input is rejected (job FAILED, not charged).
- ``ModelNotEnabled``   -> the request named a model this deployment may not serve.
- ``WeightsError``      -> a checkpoint is missing or corrupt (job ERROR, not charged).
- ``RestorationFailed`` -> the pipeline broke on good input (job ERROR, not charged).
"""


class MLError(Exception):
    """Base class of every engine error."""


class InvalidImage(MLError):
    """The input cannot be processed: not an image, truncated, too many pixels, ..."""


class ModelNotEnabled(MLError):
    """The model is unknown, or the operator has not enabled it for this deployment."""


class WeightsError(MLError):
    """A checkpoint file is missing, truncated or fails its checksum."""


class RestorationFailed(MLError):
    """A stage failed on a valid input; never reported as a success."""
