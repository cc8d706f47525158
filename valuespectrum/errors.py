"""The errors a user can act on, which `console.user_errors` turns into one line.

A leaf module (standard library only): the subsystems raise these, and the console catches
them, without either importing the other.
"""

from __future__ import annotations


class CorpusError(ValueError):
    """The corpus directory is missing, incomplete or inconsistent."""


class RunError(RuntimeError):
    """A run directory cannot be used as asked; the message says why and what to do."""


class RunReadError(RunError):
    """A file of a run directory is missing, damaged or not what its kind writes; the message
    names the file (and the field)."""


class RunLockedError(RunError):
    """Another process is writing to this run directory."""


class PlanChanged(RunError):
    """The run directory holds results recorded under a different plan."""


class RunWriteError(RunError):
    """A file of the run could not be written (not writable, disk full, file too large).

    Raised before any model call when the directory cannot be created or locked, and at the
    failing write otherwise; what was written before stays on disk.
    """


class ClusterError(RuntimeError):
    """Ray could not be started or joined; the message says why and what to check."""


class StoreError(ValueError):
    """The store cannot serve this request (wrong vector width, no such collection)."""


class StoreLockedError(RuntimeError):
    """Another process owns this store (Milvus-lite allows one process per `.db`)."""
