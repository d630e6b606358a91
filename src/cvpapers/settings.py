"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from cvpapers.hooks import NodeRunTrackingHook, PipelineSetupHook

# PipelineSetupHook validates parameters and names the MLflow experiment before kedro-mlflow starts
# its run; NodeRunTrackingHook opens a child run per node. kedro-mlflow registers itself.
HOOKS = (PipelineSetupHook(), NodeRunTrackingHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `conf/smoke` and `conf/paper` override only the keys they change.
    "merge_strategy": {"parameters": "soft"},
}
