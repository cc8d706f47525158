"""Observation modes, and the pan/zoom motion of the built-in feed's animated posts.

A mode says what a viewer is shown of a post (recorded on every step as `observation_mode`):

- ``screenshot``: the paper's single screenshot at the start of the video;
- ``frames``: `frames` screenshots spread over the first `frame_span_s` seconds of the video,
  sent to the model as several images (the first is the start screenshot);
- ``screenshot_text``: the start screenshot plus the text read off the screen (caption,
  creator, hashtags), sent as text beside the image.

Every environment kind accepts the options `observation`, `frames` and `frame_span_s`.
Kinds that can encode screenshots otherwise (Playwright, http) also accept `screenshot`:
``png`` (the default), ``jpeg`` (encoded by the browser itself, or drawn straight to JPEG
by the http kind, at `jpeg_quality`, carried
unchanged to the model and the run directory) or ``none`` (no screenshot at all, for
viewers that read only the on-screen text). The format is an option of the spec, so it is
part of the run's plan and never differs silently between runs.
The built-in feed kinds also accept `motion: panzoom`: each post then zooms and pans over
its image during its first seconds, a pure function of the virtual clock, so that frame
sampling has something to sample. `panzoom` here and `panzoom` in `feed/static/feed.js` are
the same formula; the PIL renderer of the HTTP environment uses this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MODES = ("screenshot", "frames", "screenshot_text")
MOTIONS = ("none", "panzoom")
#: Screenshot formats (`screenshot` option) and the media type each is sent with.
SCREENSHOT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "none": ""}
#: Options of the kinds that encode their own screenshots (added to their registry entry).
SCREENSHOT_OPTIONS = ("screenshot", "jpeg_quality")
#: Options every environment kind accepts (the registry adds them to each kind's own).
OBSERVATION_OPTIONS = ("observation", "frames", "frame_span_s")
#: Seconds over which a post's pan/zoom runs before it holds still.
MOTION_SECONDS = 4.0
MOTION_ZOOM = 0.3  # the image grows to 1.3x
MOTION_PAN = 0.08  # and drifts by 8 % of the viewport
# (dx, dy) drift directions, picked per post from its id
DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))


@dataclass(frozen=True)
class ObservationMode:
    """What of a post an environment captures.

    Attributes:
        mode: screenshot | frames | screenshot_text.
        frames: Frames captured in ``frames`` mode (>= 2); 1 otherwise.
        span_s: Seconds of video the frames cover (first frame at 0, last at `span_s`).
        image: Screenshot format: png | jpeg | none (see the module docstring).
        jpeg_quality: JPEG quality (1-100) when `image` is jpeg.
    """

    mode: Literal["screenshot", "frames", "screenshot_text"] = "screenshot"
    frames: int = 1
    span_s: float = 2.0
    image: Literal["png", "jpeg", "none"] = "png"
    jpeg_quality: int = 80

    @property
    def media_type(self) -> str:
        """The screenshots' media type ("" when none are taken)."""
        return SCREENSHOT_FORMATS[self.image]

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ObservationMode:
        """The mode an environment spec's options ask for; ValueError on a bad value."""
        mode = str(options.get("observation", "screenshot"))
        if mode not in MODES:
            raise ValueError(f"options.observation: unknown mode {mode!r}; expected one of "
                             f"{', '.join(MODES)}")
        frames = options.get("frames", 4 if mode == "frames" else 1)
        span = options.get("frame_span_s", 2.0)
        if isinstance(frames, bool) or not isinstance(frames, int):
            raise ValueError(f"options.frames: expected an integer, got {frames!r}")
        if isinstance(span, bool) or not isinstance(span, int | float) or span <= 0:
            raise ValueError(f"options.frame_span_s: expected seconds > 0, got {span!r}")
        if mode == "frames" and not 2 <= frames <= 16:
            raise ValueError(f"options.frames: frames mode takes 2-16 frames, got {frames}")
        if mode != "frames" and "frames" in options and frames != 1:
            raise ValueError(f"options.frames: {frames} frames need observation: frames "
                             f"(observation is {mode!r})")
        image = str(options.get("screenshot", "png"))
        if image not in SCREENSHOT_FORMATS:
            raise ValueError(f"options.screenshot: unknown format {image!r}; expected one of "
                             f"{', '.join(SCREENSHOT_FORMATS)}")
        quality = options.get("jpeg_quality", 80)
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ValueError(f"options.jpeg_quality: expected an integer 1-100, got {quality!r}")
        if image == "none" and mode != "screenshot":
            raise ValueError(f"options.screenshot: none takes no screenshot, but observation "
                             f"{mode!r} shows the model screenshots")
        return cls(mode=mode, frames=frames if mode == "frames" else 1,  # type: ignore[arg-type]
                   span_s=float(span), image=image, jpeg_quality=quality)  # type: ignore[arg-type]

    def times(self, duration_s: float | None = None) -> list[float]:
        """Video times (s) of the frames: evenly from 0 to `span_s`, within the video."""
        if self.frames <= 1:
            return [0.0]
        end = self.span_s if duration_s is None else min(self.span_s, float(duration_s))
        return [round(end * i / (self.frames - 1), 6) for i in range(self.frames)]


def validate_motion(options: Mapping[str, Any]) -> str:
    """The `motion` option of a built-in feed kind (none | panzoom)."""
    motion = str(options.get("motion", "none"))
    if motion not in MOTIONS:
        raise ValueError(f"options.motion: unknown motion {motion!r}; expected none or panzoom")
    return motion


def direction(item_id: str) -> tuple[int, int]:
    """The drift direction of a post: the sum of its id's character codes picks one of four."""
    return DIRECTIONS[sum(ord(c) for c in item_id) % len(DIRECTIONS)]


def panzoom(t_s: float, item_id: str) -> tuple[float, float, float]:
    """Scale and drift (fractions of the viewport width/height) of a post at video time t.

    The image zooms linearly from 1 to 1 + MOTION_ZOOM and drifts by MOTION_PAN of the
    viewport over the first MOTION_SECONDS, then holds; at t = 0 it is the still post.
    """
    p = min(max(float(t_s), 0.0), MOTION_SECONDS) / MOTION_SECONDS
    dx, dy = direction(item_id)
    return 1.0 + MOTION_ZOOM * p, dx * MOTION_PAN * p, dy * MOTION_PAN * p


#: A pixel channel differing by more than this (of 255) between two screenshots is a
#: different picture, not Chromium's raster noise. Chosen from what each side looks like,
#: not from a result we report: between fault-free and chaos runs of the same posts the
#: noise was at most 9 levels (JPEG as stored; 2 in another run) on at most 160 pixels of
#: the Share icon's anti-aliased edge (docs/reliability.md); a missing image, another post
#: or a changed letter of a caption moves pixels by more than 100. 32 lies between the two
#: on a log scale (sqrt(9 x 100) = 30), with room on both sides.
RASTER_NOISE_LEVELS = 32


def same_picture(a: bytes, b: bytes, levels: int = RASTER_NOISE_LEVELS) -> bool:
    """Whether two encoded screenshots (PNG or JPEG) show the same picture.

    A browser's screenshots of the same page are not always byte-identical: an anti-aliased
    edge can be rasterized a level or two apart from one run to the next. Such pictures
    are the same; any pixel channel apart by more than `levels` makes them differ.
    """
    import io

    import numpy as np
    from PIL import Image

    x, y = (np.asarray(Image.open(io.BytesIO(d)).convert("RGB"), dtype=np.int16)
            for d in (a, b))
    return x.shape == y.shape and int(np.abs(x - y).max(initial=0)) <= levels
