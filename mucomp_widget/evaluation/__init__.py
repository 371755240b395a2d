"""Evaluation: one inference pass per model, then pure functions of its arrays.

``inference`` is the only module that runs a model; ``accuracy``, ``privacy``, ``mia``,
``similarity`` and ``embedding`` are pure numpy; ``summary`` combines them per model and
``trace`` records them per epoch.
"""

from .inference import Outputs, infer

__all__ = ["Outputs", "infer"]
