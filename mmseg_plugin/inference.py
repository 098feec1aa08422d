"""Former home of the inference helpers, now ``mmseg_plugin.apis.inference`` (re-exported here for the modules and
documents that name this path)."""

from .apis.inference import *  # noqa: F401,F403
from .apis.inference import clip_frame_items, init_model, predict_clip  # noqa: F401
