"""Stored pixel values -> Hounsfield units, padding read as air, and the check that a CT
really is in HU (DICOM and NIfTI alike).

Padding
-------
Pixels outside the scanner's field of view carry a padding value, not a measurement.
Two conventions are recognised, both in the *stored* values (before RescaleSlope and
RescaleIntercept), and such pixels are set to :data:`AIR_HU`:

* ``PixelPaddingValue`` (0028,0120), and with ``PixelPaddingRangeLimit`` (0028,0121)
  every stored value between the two (DICOM PS3.3 C.7.5.1.1.2);
* the unsigned convention: 16-bit data declared unsigned (PixelRepresentation 0) whose
  only value at or above 32768 is one constant, e.g. 63536, which is -2000 (a common
  scanner padding) written as unsigned. No CT measurement is stored there: with the usual
  intercept of -1024 it would be above 31,000 HU.

Not in Hounsfield units
-----------------------
A chest CT in HU holds air (about -1000 HU), lung (-900 to -500) and fat (-100 to -50).
A volume whose lowest value, padding excluded, is above :data:`NOT_HU_ABOVE` holds none of
them: its values are stored pixel values (e.g. HU + 1024, air near 0), as a DICOM CT
without RescaleSlope/RescaleIntercept or a NIfTI CT saved "0-based" gives. It is refused
with "not in Hounsfield units" rather than read with every HU check off by 1024.
"""

from __future__ import annotations

import numpy as np

#: HU given to padding pixels (air)
AIR_HU = -1024
#: a CT whose lowest non-padding value is above this (HU) is not in HU (see above)
NOT_HU_ABOVE = -50.0
#: int16 range of the stored HU volume
INT16_MIN, INT16_MAX = -32768, 32767


def _as_stored(value: int, dtype: np.dtype) -> int:
    """A padding value in the pixels' own representation: -2000 given (SS) for unsigned
    16-bit data is stored as 63536, and 63536 given (US) for signed data as -2000."""
    if dtype.itemsize == 2 and dtype.kind == "u" and value < 0:
        return value + 65536
    if dtype.itemsize == 2 and dtype.kind == "i" and value > 32767:
        return value - 65536
    return value


def padding_mask(stored: np.ndarray, *, padding_value=None, padding_limit=None,
                 unsigned16: bool = False) -> tuple[np.ndarray | None, str]:
    """Pixels of one slice that carry a padding value, and how they were recognised.

    Parameters
    ----------
    stored : ndarray of shape (y, x)
        Stored pixel values (before rescale).
    padding_value, padding_limit : int, optional
        PixelPaddingValue and PixelPaddingRangeLimit.
    unsigned16 : bool
        16-bit data declared unsigned (PixelRepresentation 0, BitsStored 16).

    Returns
    -------
    (mask or None, description)
        ``None`` when no pixel is padding; the description names the value (plain
        numbers) for the reader's note.
    """
    if padding_value is not None:
        lo = hi = _as_stored(int(padding_value), stored.dtype)
        if padding_limit is not None:
            lo, hi = sorted((lo, _as_stored(int(padding_limit), stored.dtype)))
        mask = (stored >= lo) & (stored <= hi)
        what = (f"PixelPaddingValue {lo}" if lo == hi
                else f"PixelPaddingValue range {lo} to {hi}")
        return (mask if mask.any() else None), what
    if unsigned16 and stored.dtype.kind == "u":
        high = stored >= 32768
        if high.any():
            vals = np.unique(stored[high])
            if len(vals) == 1:
                v = int(vals[0])
                return high, f"unsigned padding value {v} ({v - 65536} as signed 16-bit)"
    return None, ""


def rescale(stored: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """``stored * slope + intercept``, rounded; int32 when both are integers (exact)."""
    if slope == 1.0 and float(intercept).is_integer():
        return stored.astype(np.int32) + int(intercept)
    return np.rint(stored * slope + intercept)


def not_hu_message(lowest: float, how: str) -> str | None:
    """The "not in Hounsfield units" message for a CT whose lowest non-padding value is
    ``lowest``, or None when the values can be HU; ``how`` says how values were scaled."""
    if lowest <= NOT_HU_ABOVE:
        return None
    return (f"not in Hounsfield units: the lowest value is {lowest:g} (padding excluded), "
            f"where a chest CT in HU holds air (-1000) and lung ({how}); "
            f"values look like stored pixel values (e.g. HU + 1024): export the CT in HU")
