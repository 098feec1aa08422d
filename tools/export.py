"""Export a trained DDESeg for deployment: torch.export program (.pt2) and ONNX model, checked against eager PyTorch.

    python tools/export.py CONFIG CHECKPOINT --out DIR [--batch-size 1] [--no-onnx] [--no-check] [--verbose]
    python tools/export.py WORK_DIR --out DIR ...          (a trained work_dir: its config and best / last checkpoint)

Writes DIR/ddeseg.pt2 (``torch.export.save``; load with ``torch.export.load(path).module()``), DIR/ddeseg.onnx and
DIR/export.json (input / output shapes, sample rate, window, classes, normalisation, and the max abs difference of
each exported model to eager PyTorch on random inputs: onnxruntime for ONNX). Inputs: ``image`` float32
[B, 3, H, W] RGB 0-255 at the config's test size, ``audio`` float32 [B, T] (the audio window at the config's sample
rate); output ``logits`` [B, C, H, W]. The batch size is fixed at export (``--batch-size``). Exits non-zero when a
difference exceeds ``--tolerance`` (1e-4). mmengine's log goes to DIR/export.log unless ``--verbose``. See
docs/inference.md (what exports, measured differences).
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import time

from mmseg_plugin.apis.scope import import_plugin


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Export DDESeg (image + audio -> logits) with torch.export and to ONNX")
    p.add_argument("model", help="config file (then CHECKPOINT) or a trained work_dir")
    p.add_argument("checkpoint", nargs="?")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--batch-size", type=int, default=1, help="static batch size of the exported models")
    p.add_argument("--no-onnx", action="store_true", help="only the torch.export program")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with eager PyTorch")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed (default 1e-4)")
    p.add_argument("--verbose", action="store_true", help="print mmengine's log and warnings (default: DIR/export.log)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import_plugin()
    from mmseg_plugin.quiet import quiet_logs, stdout_to_log

    os.makedirs(args.out, exist_ok=True)
    log = osp.join(args.out, "export.log")
    with quiet_logs(log, args.verbose), stdout_to_log() if not args.verbose else _null():
        report = export(args)
    for k, v in report["max_abs_diff"].items():
        print(f"max |{k} - eager| = {v:.3g}" if k != "logit_scale" else f"max |eager logit| = {v:.3g}")
    for k, v in report["files"].items():
        print(f"{k}: {v}")
    if not args.verbose:
        print(f"full log (mmengine, warnings): {log}")
    bad = {k: v for k, v in report["max_abs_diff"].items() if k != "logit_scale" and v > args.tolerance}
    if bad:
        raise SystemExit(f"exported outputs differ from eager by more than {args.tolerance}: {bad}")
    return report


def _null():
    import contextlib

    return contextlib.nullcontext()


def export(args) -> dict:
    import torch
    from mmengine.config import Config

    from mmseg_plugin.apis.export import (
        ONNX_OPSET,
        ExportableDDESeg,
        compare_outputs,
        example_inputs,
        export_onnx,
        export_program,
    )
    from mmseg_plugin.apis.inference import init_model
    from mmseg_plugin.apis.inferencer import resolve_model
    from mmseg_plugin.quiet import progress

    config, checkpoint = resolve_model(args.model, args.checkpoint)
    cfg = Config.fromfile(config)
    steps = ["load", "torch.export"] + ([] if args.no_onnx else ["onnx"]) + ([] if args.no_check else ["check"])
    files, timings = {}, {}
    with progress(total=len(steps), desc="export", unit="step") as bar:
        t = time.time()
        segmentor, meta = init_model(cfg, checkpoint, "cpu")
        module = ExportableDDESeg.from_segmentor(segmentor)
        inputs = example_inputs(cfg, args.batch_size)
        bar.update(1)
        t, timings["load"] = time.time(), round(time.time() - t, 1)
        program = export_program(module, inputs)
        files["torch_export"] = osp.join(args.out, "ddeseg.pt2")
        torch.export.save(program, files["torch_export"])
        bar.update(1)
        t, timings["torch_export"] = time.time(), round(time.time() - t, 1)
        if not args.no_onnx:
            files["onnx"] = export_onnx(program, inputs, osp.join(args.out, "ddeseg.onnx"))
            bar.update(1)
            t, timings["onnx"] = time.time(), round(time.time() - t, 1)
        diffs = {}
        if not args.no_check:
            diffs = compare_outputs(module, inputs, program, files.get("onnx"))
            bar.update(1)
            timings["check"] = round(time.time() - t, 1)
    audio_step = next(s for s in cfg.test_pipeline if s["type"] == "LoadAudioWindow")
    with torch.no_grad():
        out_shape = list(module(*inputs).shape)
    report = dict(
        config=config,
        checkpoint=checkpoint,
        inputs=dict(
            image=dict(shape=list(inputs[0].shape), dtype="float32", layout="RGB 0-255, resized to the test size"),
            audio=dict(
                shape=list(inputs[1].shape),
                dtype="float32",
                sample_rate=int(audio_step.get("sample_rate", 16000)),
                window_seconds=float(audio_step.get("window_seconds") or 1.0),
            ),
        ),
        outputs=dict(logits=dict(shape=out_shape, dtype="float32")),
        normalisation=None
        if not module.normalize
        else dict(mean=module.mean.reshape(-1).tolist(), std=module.std.reshape(-1).tolist()),
        classes=list((meta or {}).get("classes") or []),
        task=cfg.model.get("task", "semantic"),
        onnx_opset=None if args.no_onnx else ONNX_OPSET,
        torch=torch.__version__,
        max_abs_diff=diffs,
        timings_s=timings,
        files=files,
    )
    files["report"] = osp.join(args.out, "export.json")
    with open(files["report"], "w") as f:
        json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
