"""What the scanner and the sonographer draw on top of the image.

Annotation text ("RT BREAST 10:00 3CM FN", "LT AXILLA"), depth dots, the focus marker, a body
mark and, on images with something to measure, *calipers*: `+` marks at a lesion's edges joined
by a dotted line. A normal scan has nothing to measure, so calipers sit mostly on lesion images:
the overlays carry class information that has nothing to do with anatomy, a shortcut a
classifier can learn. The rates below are set so that the fraction of saturated pixels alone
predicts the class about as well as it does on BUSI (benchmarks/phantom_calibration.py
measures it; notebook 01 measures the share of overlay pixels).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CALIPERS = {"benign": 0.55, "malignant": 0.45, "normal": 0.04}  # P(image is measured)
TEXT = 0.4  # P(a session's images carry annotation text)


def _font(px: int):
    try:
        return ImageFont.load_default(size=max(6, px))
    except TypeError:  # Pillow without FreeType: one small bitmap font
        return ImageFont.load_default()


def session(rng) -> dict:
    """What stays the same over a scanning session (and so over the frames of one scan)."""
    side = str(rng.choice(["RT", "LT", "RIGHT", "LEFT"]))
    where = str(rng.choice([f"{side} BREAST", f"{side} {rng.integers(1, 13)}:00",
                            f"{side} BR {rng.integers(1, 13)}:00 {rng.integers(1, 7)}CM FN",
                            f"{side} AXILLA", f"{side} {rng.integers(1, 5)}"]))
    return dict(text=where if rng.random() < TEXT else "", corner=int(rng.integers(0, 3)),
                text_fill=int(rng.choice([255, 255, 240, 220])), dots=bool(rng.random() < 0.5),
                focus=bool(rng.random() < 0.4), bodymark=bool(rng.random() < 0.15))


def draw(img: Image.Image, rng, kind: str, sess: dict, lesion_box, focus_frac: float) -> Image.Image:
    """Draw the session's overlays and, with the class's probability, calipers (in place)."""
    W, H = img.size
    d = ImageDraw.Draw(img)
    fs = max(6, int(H * rng.uniform(0.03, 0.045)))
    if sess["text"]:
        x = int(W * 0.03) if sess["corner"] != 2 else int(W * 0.6)
        y = int(H * 0.02) if sess["corner"] != 1 else int(H * 0.93) - fs
        d.text((x, y), sess["text"], fill=sess["text_fill"], font=_font(fs))
    if sess["dots"]:  # a depth scale: one dot per centimetre along the right edge
        for k in range(1, 8):
            y = int(H * k / 7.5)
            d.point([(W - 3, y), (W - 4, y)], fill=190)
    if sess["focus"]:
        y = int(H * focus_frac)
        s = max(2, W // 120)
        d.polygon([(W - 2, y), (W - 2 - 2 * s, y - s), (W - 2 - 2 * s, y + s)], fill=200)
    if sess["bodymark"]:
        r = max(4, W // 30)
        cx, cy = int(W * 0.1), int(H * 0.88)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=210)
        d.line([(cx - r, cy + rng.integers(-r, r)), (cx + r, cy + rng.integers(-r, r))], fill=230)
    if rng.random() < CALIPERS[kind]:
        if lesion_box is None:  # a normal scan measured anyway (a duct, a lobule)
            cx, cy = rng.uniform(0.3, 0.7) * W, rng.uniform(0.3, 0.6) * H
            hw, hh = rng.uniform(0.04, 0.12) * W, rng.uniform(0.03, 0.06) * H
            lesion_box = (cx - hw, cx + hw, cy - hh, cy + hh)
        _calipers(d, rng, lesion_box, W)
    return img


def _calipers(d: ImageDraw.ImageDraw, rng, box, W: int) -> None:
    x0, x1, y0, y1 = box
    arm = max(2, int(W * rng.uniform(0.008, 0.014)))
    lw = 1 if W < 700 else 2
    fill = int(rng.choice([255, 255, 255, 255, 235]))
    ym, xm = (y0 + y1) / 2, (x0 + x1) / 2
    pairs = [((x0, ym), (x1, ym))]
    if rng.random() < 0.6:  # a second, perpendicular measurement
        pairs.append(((xm, y0), (xm, y1)))
    for n, (a, b) in enumerate(pairs):
        for px, py in (a, b):
            px, py = px + rng.normal(0, 1.5), py + rng.normal(0, 1.5)  # placed by hand
            d.line([(px - arm, py), (px + arm, py)], fill=fill, width=lw)
            d.line([(px, py - arm), (px, py + arm)], fill=fill, width=lw)
        steps = max(2, int(np.hypot(b[0] - a[0], b[1] - a[1]) / max(4, W // 70)))
        for t in np.linspace(0, 1, steps)[1:-1]:
            x, y = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
            d.point([(x, y)], fill=fill - 30)
        d.text((b[0] + arm + 1, b[1]), str(n + 1), fill=fill, font=_font(max(6, W // 45)))
