"""Evaluation: one inference pass per model, then pure functions of its arrays."""

from .accuracy import class_accuracy, unlearning_accuracies
from .inference import Outputs, infer

__all__ = ["Outputs", "infer", "class_accuracy", "unlearning_accuracies"]
