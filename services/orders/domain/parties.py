"""Who an order is for: the customer as far as the orders service knows them."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain import InvalidFieldError
from shared.domain.phone import InvalidPhoneError, normalise_phone

MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str | None = None
    name: str | None = None
    phone: str | None = None  # E.164

    @classmethod
    def of(cls, *, customer_id: str | None, name: str | None, phone: str | None) -> Customer:
        """Validated and normalised: the phone becomes E.164 so the leads service can dedupe on it."""
        clean_name = (name or "").strip() or None
        if clean_name and len(clean_name) > MAX_NAME_LENGTH:
            raise InvalidFieldError("customer_name", f"must be at most {MAX_NAME_LENGTH} characters")
        normalised = None
        if phone is not None:
            try:
                normalised = normalise_phone(phone)
            except InvalidPhoneError as exc:
                raise InvalidFieldError("customer_phone", exc.reason) from None
        return cls((customer_id or "").strip() or None, clean_name, normalised)
