"""The README's main job: the whole DDESeg recipe on one config (default: the synthetic CPU dataset).

    python tools/run_pipeline.py [CONFIG] [--work-dir DIR] [--data-root ROOT] [--force STAGE ...]
        [--audio-iters N] [--seg-iters N] [--verbose]

The terminal shows one progress bar per stage, the stage lines and the final table; mmengine's log (environment,
configs, hook tables, iteration lines) and library warnings go to ``<work_dir>/run_pipeline.log`` (each Runner also
keeps its own log under its work_dir); ``--verbose`` prints all of it as before (mmseg_plugin/quiet.py).

The stages and the run live in ``mmseg_plugin.apis.pipeline`` (``run_pipeline(config, ...)`` takes these flags).

Stages (each skipped when its output exists, unless named in ``--force``; ``--force all`` redoes everything):

0. ``data``:   generate the synthetic dataset (AVSSyntheticDataset writes it into data_root on first use). Other
   datasets must already exist; AVSS-layout datasets take their classes from ``label2idx.json``.
0b. ``visual``: opt-in (a config's ``visual_pretrain``, e.g. the harder synthetic preset): pre-train the image encoder
   on an independent image-only sprite set (the analogue of the paper's ImageNet weights) ->
   ``<work_dir>/visual_encoder.pth``, loaded into DDESeg's encoder by stage 3 (mmseg_plugin/visual_stage.py).
0c. ``audio_pretrain``: opt-in (a config's ``audio_pretrain``, e.g. the harder synthetic preset): pre-train the stage-1
   audio encoder on an independent audio-only tagging set (voice clips of the harder set's words said by 1,000 voices
   of its own; the analogue of the paper's AudioSet weights) -> ``<work_dir>/audio_pretrained.pth``, the weights stage
   1 starts from (mmseg_plugin/audio_pretrain.py).
1. ``audio``:  train/fine-tune the audio encoder on frame labels derived from the masks (``AVSAudioClassifier``
   through mmengine's Runner) -> ``<work_dir>/audio_encoder.pth`` (+ val mAP). Opt-in for the paper configs
   (``audio_finetune = True``; the paper's §4 uses the AudioSet HTS-AT as is), on for the synthetic ones whose encoder
   has no pretrained checkpoint (mmseg_plugin/recipe.py).
2. ``memory``: build the semantic memory from that encoder's features of single-source training frames
   (mmseg_plugin.apis.memory_builder) -> ``<work_dir>/semantic_memory.pth``. Skipped when the config supplies its own
   bank (``model.net.pretrained.memory``, e.g. ``configs/ddeseg_official_avss.py``): bank and encoder are left alone.
3. ``train``:  train DDESeg with that memory and encoder through mmengine's Runner (the `mim train` path), model
   selection on val -> ``<work_dir>/ddeseg/`` (an interrupted run resumes from its last checkpoint).
4. ``test``:   evaluate the final checkpoint on the test split with AVSMetric (AVSBench per-frame and dataset-level
   conventions) next to an all-background prediction -> ``<work_dir>/summary.json``; the predicted masks
   (AVSMaskWriter) -> ``<work_dir>/test/masks/<clip_id>/<frame_index>.png`` and ``masks.csv``.
   Diagnostics (mmseg_plugin/diagnostics.py; ``--no-diagnostics`` skips the model re-evaluations): the
   all-background floor on val and test, the visual-only oracle (synthetic sets: every visible object, audio
   ignored), the checkpoint with its audio zeroed and shuffled across clips (``--shuffle-seed``), the stage-1 val
   mAP beside the CNN audio baseline, and a loud warning when the final val (or test) J&F is within 2 points of the
   all-background floor.
"""

from __future__ import annotations

import argparse
import os.path as osp

from mmseg_plugin.apis.pipeline import STAGES, run_pipeline

DEFAULT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "configs", "ddeseg_synthetic.py")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="DDESeg recipe: data -> audio encoder -> memory -> DDESeg -> test")
    p.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    p.add_argument("--work-dir")
    p.add_argument("--data-root")
    p.add_argument("--force", nargs="+", default=[], choices=STAGES + ("all",))
    p.add_argument("--audio-iters", type=int, help="override the stage-1 iterations")
    p.add_argument("--seg-iters", type=int, help="override the DDESeg training iterations (iteration schedules)")
    p.add_argument("--stop-after", choices=STAGES, help="stop after this stage")
    p.add_argument(
        "--no-diagnostics",
        action="store_true",
        help="skip the visual-only oracle and the audio-zeroed / audio-shuffled re-evaluations of the checkpoint",
    )
    p.add_argument("--shuffle-seed", type=int, default=0, help="seed of the clip derangement of the shuffled-audio row")
    p.add_argument(
        "--seed",
        type=int,
        help="training seed of every stage (randomness.seed, audio_classifier.seed, memory_builder.seed); "
        "the dataset's own seed (which data are generated) is not changed",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="print mmengine's full log and library warnings (default: <work_dir>/run_pipeline.log, progress bars)",
    )
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Run the recipe (``mmseg_plugin.apis.pipeline.run_pipeline``); returns the summary."""
    return run_pipeline(**vars(parse_args(argv)))


if __name__ == "__main__":
    main()
