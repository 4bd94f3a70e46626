"""Vehicle identification numbers (VIN, 车辆识别代号): what a VIN must look like before stock is recorded under it.

What is checked, and why only that:

* 17 characters, upper-cased, from the VIN alphabet: digits and the letters A–Z **without I, O and Q** (ISO 3779;
  China's GB 16735 uses the same alphabet), so they cannot be misread as 1 and 0.
* The **check digit** (position 9) where the VIN's region makes it mandatory: China (GB 16735, whose world
  manufacturer identifiers begin with ``L``) and North America (49 CFR 565, WMIs beginning ``1``–``5``). It is the
  ISO 3779 annex / GB 16735 algorithm: each character is transliterated to a number (digits as themselves, letters
  A–H = 1–8, J–N = 1–5, P = 7, R = 9, S–Z = 2–9), multiplied by its position's weight
  (8 7 6 5 4 3 2 10 · 9 8 7 6 5 4 3 2, position 9 itself weighs 0), and the sum modulo 11 is the check digit
  (10 written ``X``). Elsewhere (most European makers) position 9 is the maker's own and is not checked: refusing
  those would refuse real cars.

Not checked: that the WMI is assigned, the model-year character, the plant code — none of them can be verified
without a registry we do not have.
"""

from __future__ import annotations

from shared.domain import InvalidFieldError

VIN_LENGTH = 17
VIN_ALPHABET = frozenset("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")  # no I, O, Q
TRANSLITERATION = {**{str(d): d for d in range(10)},
           **dict(zip("ABCDEFGH", range(1, 9), strict=True)), **dict(zip("JKLMN", range(1, 6), strict=True)),
           "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
CHECK_DIGIT_REGIONS = frozenset("L12345")
"""First characters of the WMIs whose VINs must carry a valid check digit: China (GB 16735) and North America."""


def check_digit(vin: str) -> str:
    """The check digit the 17-character ``vin`` (already in the VIN alphabet) should carry at position 9."""
    remainder = sum(TRANSLITERATION[char] * weight for char, weight in zip(vin, _WEIGHTS, strict=True)) % 11
    return "X" if remainder == 10 else str(remainder)


def needs_check_digit(vin: str) -> bool:
    return vin[:1] in CHECK_DIGIT_REGIONS


def normalise_vin(raw: str, *, field: str = "vin") -> str:
    """The VIN upper-cased and stripped, or InvalidFieldError naming ``field`` and what is wrong with it."""
    vin = raw.strip().upper()
    if len(vin) != VIN_LENGTH:
        raise InvalidFieldError(field, f"a VIN has {VIN_LENGTH} characters, not {len(vin)}")
    wrong = sorted(set(vin) - VIN_ALPHABET)
    if wrong:
        raise InvalidFieldError(field, f"a VIN uses digits and letters without I, O and Q; found {''.join(wrong)!r}")
    if needs_check_digit(vin) and vin[8] != (expected := check_digit(vin)):
        raise InvalidFieldError(field, f"check digit (position 9) is {vin[8]!r}, the VIN's characters give "
                                       f"{expected!r} (GB 16735 / ISO 3779)")
    return vin
