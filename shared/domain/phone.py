"""Phone number normalisation to E.164, the dedupe key of customers (DESIGN §2).

A pure kernel helper so every service (leads for dedupe, orders for shop checkouts) normalises phones the same
way without importing another service.

Chinese numbers are the common case and arrive in every shape: ``138 1234 5678``, ``+86-138-1234-5678``,
``0086 13812345678``, ``(010) 8888-6666``, ``0755-2345678``. Mobile numbers are 11 digits starting with 1[3-9];
landlines are a trunk ``0``, an area code of 2–3 digits and a 7–8 digit subscriber number. Other countries are
accepted when written in international form (``+44 20 7946 0958``).
"""

from __future__ import annotations

import re
import unicodedata

from shared.domain.aggregate import InvalidFieldError

_SEPARATORS = re.compile(r"[\s\-().·/]")
_DIGITS = re.compile(r"^[0-9]+$")
_CN_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# Two-digit area codes: Beijing 10, and 20-29 (Guangzhou, Shanghai 21, Tianjin 22, ...); others have three digits.
_CN_LANDLINE_2 = re.compile(r"^(10|2[0-9])([0-9]{8})$")
_CN_LANDLINE_3 = re.compile(r"^([3-9][0-9]{2})([0-9]{7,8})$")
_INTERNATIONAL = re.compile(r"^[1-9][0-9]{7,14}$")


class InvalidPhoneError(InvalidFieldError):
    """The phone number cannot be normalised; ``field`` defaults to ``phone`` (callers may name theirs)."""

    def __init__(self, reason: str, field: str = "phone") -> None:
        super().__init__(field, reason)


def normalise_phone(raw: str) -> str:
    """Return the E.164 form (``+8613812345678``) or raise :class:`InvalidPhoneError` saying why."""
    # NFKC turns full-width digits and signs (１３８, ＋, typed on Chinese keyboards) into ASCII, so the same
    # number always gives the same dedupe key. Other scripts' digits are refused below.
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw).strip())
    if not text:
        raise InvalidPhoneError("is empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if not _DIGITS.match(digits):
            raise InvalidPhoneError("may contain only digits, spaces, dashes, parentheses and a leading +")
        if digits.startswith("86"):
            return "+86" + _national_cn(digits[2:], international=True)
        if not _INTERNATIONAL.match(digits):
            raise InvalidPhoneError("is not a valid international number (8 to 15 digits after +)")
        return "+" + digits
    if not _DIGITS.match(text):
        raise InvalidPhoneError("may contain only digits, spaces, dashes, parentheses and a leading +")
    if text.startswith("86") and len(text) == 13 and _CN_MOBILE.match(text[2:]):
        return "+" + text  # 8613812345678: country code without the +
    return "+86" + _national_cn(text, international=False)


def _national_cn(national: str, *, international: bool) -> str:
    """Validate a Chinese national number and return it without the trunk prefix. Written domestically a
    landline starts with the trunk 0 (``010 …``); after +86 it does not (``+86 10 …``), though a stray 0 is
    tolerated there."""
    if _CN_MOBILE.match(national):
        return national
    if national.startswith("0"):
        body = national[1:]
    elif international:
        body = national
    else:
        body = ""
    if _CN_LANDLINE_2.match(body) or _CN_LANDLINE_3.match(body):
        return body
    if national.startswith("1") and len(national) != 11:
        raise InvalidPhoneError(f"a Chinese mobile number has 11 digits, got {len(national)}")
    raise InvalidPhoneError("is neither a Chinese mobile number (1xx xxxx xxxx) nor a landline with area code")


def mask_phone_for_display(phone: str | None) -> str | None:
    """What people outside a lead's scope see of its phone (DESIGN §8): the national number's first 3 and last 4
    digits, ``+8613812345678`` → ``138****5678`` — enough to recognise a number one was given, not to call it."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    national = digits[2:] if phone.startswith("+86") else digits
    if len(national) < 8:
        return "*" * len(national)
    return national[:3] + "*" * (len(national) - 7) + national[-4:]
