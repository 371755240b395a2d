"""mucomp_widget: a Machine Unlearning Comparator that lives in the notebook.

Run unlearning methods in your own kernel, evaluate them against the Original and the
Retrain model, and compare them::

    import mucomp_widget as mu
    study = mu.Study(mu.datasets.digits(), mu.forget.classes(3))
    study.unlearn("ft")
    study.results
"""

__version__ = "0.1.0"

from . import datasets, forget, methods, metrics  # noqa: E402
from .errors import MucompError  # noqa: E402
from .methods import Bool, Choice, Float, Int, register_method  # noqa: E402
from .distributed import Failure, TuneResult  # noqa: E402
from .study import Run, Study  # noqa: E402
from .training import Recipe  # noqa: E402


def __getattr__(name):
    # The widget needs the built front-end bundle; import it only when asked for.
    if name == "Comparator":
        from .widget import Comparator

        return Comparator
    raise AttributeError(f"module 'mucomp_widget' has no attribute {name!r}")


__all__ = ["__version__", "datasets", "forget", "methods", "metrics", "MucompError", "register_method",
           "Int", "Float", "Bool", "Choice",
           "Run", "Study", "Recipe", "Comparator", "Failure", "TuneResult"]
