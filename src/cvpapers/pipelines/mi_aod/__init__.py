"""MI-AOD: Multiple Instance Active Learning for Object Detection (arXiv 2104.02324).

The method lives in plain-PyTorch modules of this room: ``heads.py`` (the f1/f2/f_mil/f_r head on the shared
``cvpapers.models.detection.RetinaDetector``), ``losses.py``, ``training.py`` (stages, evaluation, pool
scoring), ``selection.py``, ``data.py`` (ShapesDet-AL as a VOC devkit; real VOC as a manifest), ``loading.py``
(real images read from disk with the code's preprocessing: streamed training batches, streaming evaluation and
scoring), ``pretrain.py`` (the ImageNet stand-in: the tiny backbone pretrained on ShapesCls), ``claims.py`` (the one claim rule) and ``report.py`` (tables, plots); ``nodes.py`` is Kedro glue, and
the DAG is imported only when it is built.
"""

from cvpapers.declaration import Declaration, Variant
from cvpapers.pipelines.mi_aod.config import MiaodParams, preflight

# Active-learning cycles are unrolled in the DAG, so their number belongs to the registered pipeline:
# embedded 5 cycles (5 → 25 % labelled); the paper's VOC protocol 7 cycles (5 → 20 %).
DECLARATION = Declaration(
    name="mi_aod",
    title="Multiple Instance Active Learning for Object Detection",
    arxiv="2104.02324",
    family="active learning / detection",
    schema=MiaodParams,
    builder="cvpapers.pipelines.mi_aod.pipeline:create_pipeline",
    variants=(
        Variant("mi_aod_ablation", "adds the MI-AOD-training + random-selection arm (selection ablation)",
                {"cycles": 5, "ablation": True}, envs=("base", "smoke")),
        Variant("mi_aod_paper", "the paper's VOC07+12 protocol: 7 cycles", {"cycles": 7, "ablation": False},
                envs=("paper",)),
    ),
    preflight=preflight,
    base_envs=("base", "smoke", "paper"),
)
