"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from cvpapers.engine.distributed import launch_rank
from cvpapers.hooks import BatchedParamsMlflowHook, DistributedHook, NodeRunTrackingHook, PipelineSetupHook

# Hooks are called last-registered first. Per node: kedro-mlflow's hook re-opens the run and logs the
# node's parameters, then NodeRunTrackingHook opens the node's child run. PipelineSetupHook validates
# parameters and names the experiment before any of that (tryfirst). Under torchrun, DistributedHook
# joins the process group first (tryfirst) and leaves it last (trylast), and only rank 0 talks to MLflow:
# the other ranks never open a run nor touch the store.
_MLFLOW = (BatchedParamsMlflowHook(),) if launch_rank() == 0 else ()
HOOKS = (DistributedHook(), NodeRunTrackingHook(), *_MLFLOW, PipelineSetupHook())
# kedro-mlflow's hook is registered above (with batched parameter logging) instead of by entry point.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")  # its metadata spells it with "_"

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `conf/smoke` and `conf/paper` override only the keys they change.
    "merge_strategy": {"parameters": "soft"},
}
