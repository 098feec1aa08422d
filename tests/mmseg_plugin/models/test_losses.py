"""Hand-computed checks of DDESeg's eq. (18) losses (mmseg_plugin/models/losses)."""

import math

import pytest
import torch

from mmseg_plugin.models.losses import (
    AVSBCELoss,
    AVSCrossEntropyLoss,
    AVSDiceLoss,
    AVSIoULoss,
    avs_bce_loss,
    avs_cross_entropy_loss,
    avs_dice_loss,
    avs_iou_loss,
)

pytestmark = pytest.mark.mmseg

LN3 = math.log(3.0)


def _semantic_case(with_ignored_pixel: bool = False):
    """C = 2, one sample, pixels: logits (0, 0) -> p = (1/2, 1/2), target 0; logits (0, ln 3) -> p = (1/4, 3/4),
    target 1. Optionally a third pixel with arbitrary logits and target 255 (ignored)."""
    cols = [[0.0, 0.0], [0.0, LN3]]
    tgt = [0, 1]
    if with_ignored_pixel:
        cols.append([5.0, -3.0])
        tgt.append(255)
    logits = torch.tensor(cols).T.reshape(1, 2, 1, len(tgt))
    return logits, torch.tensor(tgt).reshape(1, 1, len(tgt))


def _binary_case(with_ignored_pixel: bool = False):
    """C = 1, logits (0, 0) -> p = (1/2, 1/2), target (1, 0); optionally a third, ignored pixel."""
    vals, tgt = [0.0, 0.0], [1, 0]
    if with_ignored_pixel:
        vals.append(4.0)
        tgt.append(255)
    return torch.tensor(vals).reshape(1, 1, 1, -1), torch.tensor(tgt).reshape(1, 1, -1)


# ----------------------------------------------------------------------------------------------- hand values
@pytest.mark.parametrize("ignored", [False, True])
def test_dice_semantic_hand_value(ignored):
    # c0: inter 1/2, sum p 3/4, sum t 1 -> dice 1/(7/4) = 4/7; c1: inter 3/4, sum p 5/4, sum t 1 -> 1.5/2.25 = 2/3
    # loss = 1 - (4/7 + 2/3)/2 = 8/21 (smooth 0); the ignored pixel changes nothing
    logits, target = _semantic_case(ignored)
    assert avs_dice_loss(logits, target, smooth=0.0).item() == pytest.approx(8 / 21)


def test_dice_binary_hand_value_and_smooth():
    # foreground channel only: inter 1/2, sum p 1, sum t 1 -> dice (1 + s)/(2 + s)
    logits, target = _binary_case(True)
    assert avs_dice_loss(logits, target, smooth=0.0).item() == pytest.approx(0.5)
    s = 1e-5
    assert avs_dice_loss(logits, target).item() == pytest.approx(1 - (1 + s) / (2 + s), rel=1e-6)


@pytest.mark.parametrize("ignored", [False, True])
def test_iou_hand_values(ignored):
    # semantic: c0 inter 1/2, union 3/4 + 1 - 1/2 = 5/4 -> 2/5; c1 inter 3/4, union 5/4 + 1 - 3/4 = 3/2 -> 1/2
    # loss = 1 - (2/5 + 1/2)/2 = 0.55
    logits, target = _semantic_case(ignored)
    assert avs_iou_loss(logits, target, smooth=0.0).item() == pytest.approx(0.55)
    # binary: inter 1/2, union 1 + 1 - 1/2 = 3/2 -> 1/3, loss 2/3
    logits, target = _binary_case(ignored)
    assert avs_iou_loss(logits, target, smooth=0.0).item() == pytest.approx(2 / 3)


@pytest.mark.parametrize("ignored", [False, True])
def test_cross_entropy_hand_value(ignored):
    # -ln(1/2) and -ln(3/4), mean over the 2 valid pixels: (ln 2 + ln 4/3)/2 = ln(8/3)/2
    logits, target = _semantic_case(ignored)
    assert avs_cross_entropy_loss(logits, target).item() == pytest.approx(math.log(8 / 3) / 2)


@pytest.mark.parametrize("ignored", [False, True])
def test_bce_hand_value(ignored):
    # sigmoid(0) = 1/2 against 1 and against 0: ln 2 each, mean ln 2
    logits, target = _binary_case(ignored)
    assert avs_bce_loss(logits, target).item() == pytest.approx(math.log(2.0))


def test_perfect_prediction_losses_near_zero():
    target = torch.tensor([[[0, 1], [2, 1]]])
    logits = 30.0 * torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float()
    for fn in (avs_dice_loss, avs_iou_loss, avs_cross_entropy_loss):
        assert fn(logits, target).item() == pytest.approx(0.0, abs=1e-5)


def test_dice_absent_class_counts_as_official():
    # per-sample per-class mean includes classes absent from the sample: with target all 0 and uniform logits over
    # C = 2, c0: inter 1/2*n, sum p n/2, sum t n -> dice 2/3; c1 absent: dice = s/(n/2 + s) ~ 0 -> loss ~ 1 - 1/3
    target = torch.zeros(1, 2, 2, dtype=torch.long)
    assert avs_dice_loss(torch.zeros(1, 2, 2, 2), target).item() == pytest.approx(2 / 3, abs=1e-5)


# ----------------------------------------------------------------------------------------------- gradients
def test_dice_binary_gradient_by_hand():
    # dice = 2 p1 / (p1 + p2 + 1) (smooth 0), at p1 = p2 = 1/2: d dice/d p1 = 2 (p2 + 1)/D^2 = 3/4, d/d p2 = -2 p1/D^2
    # = -1/4; sigmoid' = 1/4 -> d loss/d x = (-3/16, 1/16); the ignored pixel gets 0
    logits, target = _binary_case(True)
    logits.requires_grad_(True)
    avs_dice_loss(logits, target, smooth=0.0).backward()
    assert logits.grad.flatten().tolist() == pytest.approx([-3 / 16, 1 / 16, 0.0])


def test_cross_entropy_gradient_by_hand():
    # d/dx of the mean CE = (softmax - onehot) / 2: pixel 0 (-1/4, 1/4), pixel 1 (1/8, -1/8); ignored pixel 0
    logits, target = _semantic_case(True)
    logits.requires_grad_(True)
    avs_cross_entropy_loss(logits, target).backward()
    g = logits.grad[0, :, 0]  # [C, pixels]
    assert g[:, 0].tolist() == pytest.approx([-0.25, 0.25])
    assert g[:, 1].tolist() == pytest.approx([0.125, -0.125])
    assert g[:, 2].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("fn", [avs_dice_loss, avs_iou_loss, avs_cross_entropy_loss])
def test_semantic_gradcheck(fn):
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (2, 3, 4))
    target[0, 0, 0] = 255
    assert torch.autograd.gradcheck(lambda x: fn(x, target), (logits,))


@pytest.mark.parametrize("fn", [avs_dice_loss, avs_iou_loss, avs_bce_loss])
def test_binary_gradcheck(fn):
    torch.manual_seed(1)
    logits = torch.randn(2, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 2, (2, 3, 4))
    target[1, 2, 3] = 255
    assert torch.autograd.gradcheck(lambda x: fn(x, target), (logits,))


@pytest.mark.parametrize("fn", [avs_dice_loss, avs_iou_loss, avs_cross_entropy_loss])
def test_ignored_pixels_get_no_gradient(fn):
    torch.manual_seed(2)
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    target = torch.randint(0, 3, (1, 4, 4))
    target[0, :2] = 255
    fn(logits, target).backward()
    assert torch.all(logits.grad[0, :, :2] == 0) and torch.any(logits.grad[0, :, 2:] != 0)


def test_pixel_weight_equals_ignore_mask():
    torch.manual_seed(3)
    logits = torch.randn(1, 3, 4, 4)
    target = torch.randint(0, 3, (1, 4, 4))
    ignored = target.clone()
    ignored[0, 0] = 255
    weight = torch.ones(1, 4, 4)
    weight[0, 0] = 0.0
    for fn in (avs_dice_loss, avs_iou_loss):
        assert fn(logits, target, weight=weight).item() == pytest.approx(fn(logits, ignored).item(), rel=1e-6)


def test_all_ignored_batch_gives_zero_pixel_loss():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2), 255)
    loss = avs_cross_entropy_loss(logits, target)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(logits.grad == 0)


# ----------------------------------------------------------------------------------------------- modules / registry
def test_eq18_default_weights_and_names():
    logits, target = _semantic_case()
    dice, ce, iou = AVSDiceLoss(smooth=0.0), AVSCrossEntropyLoss(), AVSIoULoss(smooth=0.0)
    assert (dice.loss_weight, ce.loss_weight, iou.loss_weight) == (5.0, 5.0, 2.0)
    assert (dice.loss_name, ce.loss_name, iou.loss_name) == ("loss_dice", "loss_ce", "loss_iou")
    assert AVSBCELoss().loss_name == "loss_bce" and AVSBCELoss().loss_weight == 5.0
    total = dice(logits, target) + ce(logits, target) + iou(logits, target)
    # 5 * 8/21 + 5 * ln(8/3)/2 + 2 * 0.55
    assert total.item() == pytest.approx(5 * 8 / 21 + 5 * math.log(8 / 3) / 2 + 2 * 0.55)


def test_registry_build_and_mmseg_decode_head_call():
    from mmseg.registry import MODELS

    import mmseg_plugin  # noqa: F401  (registers)

    loss = MODELS.build(dict(type="AVSDiceLoss", loss_weight=1.0, smooth=0.0, loss_name="loss_dice_aux"))
    assert isinstance(loss, AVSDiceLoss) and loss.loss_name == "loss_dice_aux"
    logits, target = _semantic_case(True)
    # mmseg's BaseDecodeHead.loss_by_feat calls loss(seg_logits, seg_label, weight=None, ignore_index=255)
    assert loss(logits, target, weight=None, ignore_index=255).item() == pytest.approx(8 / 21)
    for name in ("AVSBCELoss", "AVSCrossEntropyLoss", "AVSIoULoss"):
        assert MODELS.get(name) is not None


def test_forward_ignore_index_overrides_constructor():
    logits, target = _semantic_case(True)
    target = torch.where(target == 255, torch.full_like(target, 7), target)  # ignore value 7 this time
    loss = AVSCrossEntropyLoss(loss_weight=1.0)
    assert loss(logits, target, ignore_index=7).item() == pytest.approx(math.log(8 / 3) / 2)
    with pytest.raises(ValueError, match="found \\[7\\]"):
        loss(logits, target)


# ----------------------------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    logits, target = _semantic_case()
    with pytest.raises(ValueError, match="avs_bce_loss.*C = 1"):
        avs_bce_loss(logits, target)
    b_logits, b_target = _binary_case()
    with pytest.raises(ValueError, match="avs_cross_entropy_loss.*C > 1"):
        avs_cross_entropy_loss(b_logits, b_target)
    with pytest.raises(ValueError, match="binary .* 0/1"):
        avs_dice_loss(b_logits, b_target + 1)
    with pytest.raises(ValueError, match="target must be \\[B, H, W\\]"):
        avs_iou_loss(logits, target.unsqueeze(1))
    with pytest.raises(ValueError, match="integer"):
        avs_dice_loss(logits, target.float())
    with pytest.raises(ValueError, match="loss_name must start with 'loss_'"):
        AVSIoULoss(loss_name="iou")


@pytest.mark.parametrize("fn", [avs_dice_loss, avs_iou_loss, avs_cross_entropy_loss])
def test_low_precision_logits_are_computed_in_float32(fn):
    logits, target = _semantic_case(True)
    out = fn(logits.to(torch.bfloat16), target)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(fn(logits, target).item(), abs=1e-2)


def test_importing_the_plugin_registers_every_loss():
    # `custom_imports=dict(imports=['mmseg_plugin'])` is all a config does: the package import alone must register the
    # losses (a fresh interpreter, so this file's own imports cannot mask a missing registration)
    import subprocess
    import sys

    code = (
        "import mmseg_plugin\n"
        "from mmseg.registry import MODELS\n"
        "names = ['AVSDiceLoss', 'AVSBCELoss', 'AVSCrossEntropyLoss', 'AVSIoULoss']\n"
        "missing = [n for n in names if MODELS.get(n) is None]\n"
        "assert not missing, f'not registered by `import mmseg_plugin`: {missing}'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
