"""B-mode image formation: the standard convolution model.

    scatterers -> x attenuation -> * point-spread function -> + noise -> envelope
               -> x time-gain compensation -> log compression -> gray map

1. **Scatterers.** Tissue is a cloud of tiny reflectors. Each pixel holds one with probability
   `density`; its echo is a complex Gaussian whose power follows the tissue's `echo`.
2. **Attenuation.** Sound weakens on its way down and back up, by the attenuation summed along
   the beam above each point. A mass that attenuates more than tissue darkens everything below
   it (posterior *shadowing*); fluid that attenuates less brightens it (*enhancement*).
3. **Point-spread function.** The probe does not see points: each scatterer is smeared into the
   pulse (short, along depth) times the beam (wide, across), and the beam is narrowest at the
   focal depth. Interference of the overlapping echoes is *speckle*. The convolution is done
   with FFTs, the lateral beam row by row so its width can change with depth.
4. **Envelope.** The scanner demodulates each echo line to complex baseband (I/Q); its magnitude
   is the envelope, what the Hilbert transform of the RF line would give. We simulate at
   baseband directly, which is why the scatterers are complex. Like most modern scanners, this
   one compounds a few steering angles and smooths a little: speckle is smoother than raw.
5. **TGC, log compression, gray map.** The operator's time-gain compensation boosts deep echoes
   (never exactly by the true attenuation); the envelope is converted to decibels and a window
   of `dynamic_range_db` below the brightest echoes is mapped to black..white (gain moves the
   window, so high gain saturates bright tissue); a gamma curve is the scanner's gray map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft
from scipy.ndimage import gaussian_filter, gaussian_filter1d

TGC_ATTEN = 0.085  # Np/mm: the soft-tissue attenuation the scanner's TGC assumes


@dataclass
class Probe:
    """Acquisition settings of one scan (lengths in mm)."""

    depth_mm: float
    focus_mm: float
    axial_mm: float  # pulse: Gaussian envelope sigma along depth
    lateral_mm: float  # beam: sigma at the focus
    focal_zone_mm: float  # depth over which the beam stays narrow (its Rayleigh length)
    tgc_fraction: float  # how much of the true attenuation the TGC compensates
    gain_db: float
    dynamic_range_db: float
    noise_db: float  # electronic noise relative to the brightest echoes
    gamma: float
    smoothing: float  # speckle reduction: blur of the log image, in grid pixels
    views: int  # spatial compounding: envelopes averaged over this many steering angles
    shadow_blur_mm: float  # how much shadows fill in from the sides


def scatterers(rng, echo: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Complex scatterer field: present with probability `density`, mean power `echo`."""
    present = rng.random(echo.shape) < density
    amp = np.sqrt(echo / (2 * np.maximum(density, 1e-3)))
    z = rng.standard_normal(echo.shape + (2,), dtype=np.float32)
    return present * amp * (z[..., 0] + 1j * z[..., 1])


def _gaussians(n: int, sigmas: np.ndarray) -> np.ndarray:
    """Rows of unit-sum Gaussian kernels of length n, centred on index 0 (circular), as their
    FFTs. Sampled in space, not in frequency: a Gaussian cut off at the Nyquist frequency would
    ring and leak the bright skin echo all the way down the image."""
    d = np.minimum(np.arange(n), n - np.arange(n))[None, :]
    k = np.exp(-0.5 * (d / sigmas[:, None]) ** 2)
    return fft.fft(k / k.sum(1, keepdims=True), axis=1)


def psf(shape, pitch: float, probe: Probe):
    """The point-spread function as two FFT filters: the beam (lateral, one per depth row) and
    the pulse (along depth)."""
    h, w = shape
    z = (np.arange(h) + 0.5) * pitch
    # The beam widens away from the focus like a Gaussian beam; never finer than the grid.
    lat = probe.lateral_mm * np.sqrt(1 + ((z - probe.focus_mm) / probe.focal_zone_mm) ** 2) / pitch
    lat = np.maximum(lat, 0.7)
    ax = max(probe.axial_mm / pitch, 0.5)
    nx = fft.next_fast_len(w + int(18 * lat.max()) + 2)  # room for the side lobes: no wrap-around
    beam = _gaussians(nx, lat) + 0.08 * _gaussians(nx, 3 * lat)  # main lobe + side lobes (haze)
    nz = fft.next_fast_len(h + int(8 * ax) + 2)
    pulse = _gaussians(nz, np.array([ax]))[0][:, None]
    return beam.astype(np.complex64), pulse.astype(np.complex64)


def psf_convolve(field: np.ndarray, beam: np.ndarray, pulse: np.ndarray) -> np.ndarray:
    """Convolve the scatterers with the beam (each row its own width), then the pulse."""
    h, w = field.shape
    out = fft.ifft(fft.fft(field, n=beam.shape[1], axis=1) * beam, axis=1)[:, :w]
    return fft.ifft(fft.fft(out, n=len(pulse), axis=0) * pulse, axis=0)[:h]


def form_image(rng, echo, density, atten, pitch: float, probe: Probe) -> np.ndarray:
    """The B-mode image (float, 0..1) of the tissue maps as this probe would show it."""
    h, w = echo.shape
    # Round-trip attenuation along each beam. Beams have a width and sound scatters sideways,
    # so shadows have soft sides.
    path = np.cumsum(gaussian_filter1d(atten, max(0.5, probe.lateral_mm / pitch), axis=1), axis=0) * pitch
    path = gaussian_filter1d(path, probe.shadow_blur_mm / pitch, axis=1)
    loss = np.exp(-2 * path).astype(np.float32)
    # Spatial compounding: the scanner looks from a few steering angles and averages the
    # envelopes; each view sees another speckle pattern, so speckle is smoother, structure not.
    beam, pulse = psf((h, w), pitch, probe)
    power = 0
    for _ in range(probe.views):
        iq = psf_convolve(scatterers(rng, echo, density) * loss, beam, pulse)
        ref = np.sqrt(np.mean(np.abs(iq[: max(2, h // 3)]) ** 2))  # typical echo of the upper tissue
        noise = ref * 10 ** (probe.noise_db / 20) / np.sqrt(2)
        n = rng.standard_normal((2, h, w), dtype=np.float32)
        power = power + (iq.real + noise * n[0]) ** 2 + (iq.imag + noise * n[1]) ** 2
    envelope = np.sqrt(power / probe.views)
    # TGC: the scanner's assumed attenuation (a fraction of the real one) plus the slider wobble.
    z = (np.arange(h)[:, None] + 0.5) * pitch
    sliders = 3 * np.interp(np.linspace(0, 1, h), np.linspace(0, 1, 6), rng.standard_normal(6))[:, None]
    db = 20 * np.log10(envelope + 1e-12) + 20 * np.log10(np.e) * 2 * TGC_ATTEN * probe.tgc_fraction * z + sliders
    db = gaussian_filter(db, (0.5 * probe.smoothing, probe.smoothing))
    top = np.percentile(db, 99.9) - probe.gain_db
    gray = np.clip((db - (top - probe.dynamic_range_db)) / probe.dynamic_range_db, 0, 1)
    return gray ** probe.gamma
