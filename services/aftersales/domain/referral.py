"""A referral (老客户转介绍): an existing customer names a prospect; the leads service turns it into a lead, and
when that lead's order is delivered the referrer is rewarded — once."""

from __future__ import annotations

from datetime import datetime

from services.aftersales.domain.errors import ReferralConflictError
from services.aftersales.domain.events import ReferralLeadLinked, ReferralRegistered, ReferralRewarded
from services.aftersales.domain.policy import optional_text, require_text
from shared.domain import Aggregate, DomainEvent, InvalidFieldError


class Referral(Aggregate):
    stream_type = "referral"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.referrer_customer_id = ""
        self.prospect_name = ""
        self.prospect_phone = ""
        self.interest: str | None = None
        self.lead_id: str | None = None
        self.rewarded_order_id: str | None = None
        self.registered_at: datetime | None = None

    @classmethod
    def register(
        cls, *, referral_id: str, referrer_customer_id: str, referrer_order_id: str | None, prospect_name: str,
        prospect_phone: str, interest: str | None, registered_by: str | None, registered_at: datetime,
    ) -> Referral:
        referrer = require_text("referrer_customer_id", referrer_customer_id, max_length=100)
        name = require_text("prospect_name", prospect_name, max_length=100)
        phone = require_text("prospect_phone", prospect_phone, max_length=40)
        if sum(c.isdigit() for c in phone) < 5:
            raise InvalidFieldError("prospect_phone", "must contain a phone number")
        referral = cls(referral_id)
        referral._record(ReferralRegistered(
            referral_id=referral_id, referrer_customer_id=referrer, referrer_order_id=referrer_order_id,
            prospect_name=name, prospect_phone=phone,
            interest=optional_text("interest", interest, max_length=200),
            registered_by=registered_by, registered_at=registered_at,
        ))
        return referral

    def same_request(self, *, referrer_customer_id: str, prospect_phone: str) -> None:
        """Registering an existing referral id again is idempotent only for the same referral."""
        if (referrer_customer_id.strip(), prospect_phone.strip()) != (self.referrer_customer_id, self.prospect_phone):
            raise ReferralConflictError(f"referral {self.id} exists with different content", referral_id=self.id)

    def link_lead(self, lead_id: str, *, at: datetime) -> bool:
        if self.lead_id is not None:
            return False
        self._record(ReferralLeadLinked(referral_id=self.id, lead_id=lead_id, linked_at=at))
        return True

    def reward(self, *, order_id: str, lead_id: str, points: int, at: datetime) -> bool:
        """The referred prospect's order was delivered: reward once, whatever else is delivered later."""
        if self.rewarded_order_id is not None:
            return False
        self._record(ReferralRewarded(referral_id=self.id, referrer_customer_id=self.referrer_customer_id,
                                      order_id=order_id, lead_id=lead_id, points=points, rewarded_at=at))
        return True

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case ReferralRegistered():
                self.referrer_customer_id = event.referrer_customer_id
                self.prospect_name = event.prospect_name
                self.prospect_phone = event.prospect_phone
                self.interest = event.interest
                self.registered_at = event.registered_at
            case ReferralLeadLinked():
                self.lead_id = event.lead_id
            case ReferralRewarded():
                self.rewarded_order_id = event.order_id
            case _:
                raise TypeError(f"Referral cannot apply {type(event).__name__}")
