"""Audits of one run that need more than its single inference pass: extra models
(U-LiRA's shadow models) or extra training (the relearning probe). One module each; each
exposes ``audit(study, run_id, **options)``, reached through :meth:`Study.audit`.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError

#: audit name -> module that implements it
AUDITS = {"ulira": "ulira", "relearn": "relearn"}


def get_audit(kind):
    """The ``audit`` function of the audit named ``kind``."""
    if not isinstance(kind, str) or kind not in AUDITS:
        raise ConfigError(f"unknown audit {kind!r}; audits are {', '.join(sorted(AUDITS))}.")
    return importlib.import_module(f".{AUDITS[kind]}", __name__).audit
