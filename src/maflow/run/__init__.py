"""The run layer, below both training and evaluation: what a run folder holds and how it is written.

Run paths (:mod:`~maflow.run.paths`), checkpoints (:mod:`~maflow.run.checkpoint`), results files
(:mod:`~maflow.run.results`), log-likelihood metrics (:mod:`~maflow.run.metrics`,
:mod:`~maflow.run.conditional`), figures and samples, the run-folder lock and the clean-up of
our own files (:mod:`~maflow.run.folder`), the command line (:mod:`~maflow.run.command`) and
signal handling (:mod:`~maflow.run.interrupt`). ``maflow.train`` and ``maflow.evaluate`` import
from here and never from each other; nothing here imports them or :mod:`maflow.cli`.
"""
