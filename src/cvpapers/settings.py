"""Kedro project settings."""

import logging

from kedro.config import OmegaConfigLoader

from cvpapers.engine.distributed import launch_rank
from cvpapers.hooks import (
    BatchedParamsMlflowHook,
    ConsoleHook,
    DistributedHook,
    NodeRunTrackingHook,
    PipelineSetupHook,
)

# Importing mlflow (above, through kedro-mlflow) gives its loggers a stderr handler of their own
# ("INFO mlflow.store.db.utils: Creating initial MLflow database tables..."): hand them back to
# conf/logging.yml (warnings to the console, everything to cvpapers.log).
for _name in ("mlflow", "alembic", "huey", "sqlalchemy.engine"):
    _logger = logging.getLogger(_name)
    _logger.handlers = []
    _logger.propagate = True
    _logger.setLevel(max(_logger.level, logging.WARNING))

# Hooks are called last-registered first. Per node: kedro-mlflow's hook re-opens the run and logs the
# node's parameters, then NodeRunTrackingHook opens the node's child run. PipelineSetupHook validates
# parameters and names the experiment before any of that (tryfirst). Under torchrun, DistributedHook
# joins the process group first (tryfirst) and leaves it last (trylast), and only rank 0 talks to MLflow:
# the other ranks never open a run nor touch the store. ConsoleHook prints its node lines and the run's
# summary after the others have tracked the node (and, at the end, closed the MLflow run).
_MLFLOW = (BatchedParamsMlflowHook(),) if launch_rank() == 0 else ()
HOOKS = (DistributedHook(), ConsoleHook(), NodeRunTrackingHook(), *_MLFLOW, PipelineSetupHook())
# kedro-mlflow's hook is registered above (with batched parameter logging) instead of by entry point.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")  # its metadata spells it with "_"

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `conf/smoke` and `conf/paper` override only the keys they change.
    "merge_strategy": {"parameters": "soft"},
}
