"""Rule violations of the leads domain, each with a machine-readable code and its HTTP status."""

from __future__ import annotations

from shared.domain import DomainError


class LeadNotFoundError(DomainError):
    code = "lead_not_found"
    http_status = 404


class ConsultantNotFoundError(DomainError):
    code = "consultant_not_found"
    http_status = 404


class AppointmentNotFoundError(DomainError):
    code = "appointment_not_found"
    http_status = 404


class LeadClosedError(DomainError):
    """The lead was lost, invalidated or delivered: it left the pipeline."""

    code = "lead_closed"


class LeadInPoolError(DomainError):
    code = "lead_in_pool"


class LeadNotInPoolError(DomainError):
    code = "lead_not_in_pool"


class ClaimCooldownError(DomainError):
    code = "claim_cooldown"


class ClaimOutsideTeamError(DomainError):
    code = "claim_outside_team"
    http_status = 403


class NotAManagerError(DomainError):
    code = "not_a_manager"
    http_status = 403


class ConsultantInactiveError(DomainError):
    code = "consultant_inactive"


class ConsultantAlreadyExistsError(DomainError):
    code = "consultant_already_exists"


class TeamAlreadyExistsError(DomainError):
    code = "team_already_exists"


class AlreadyOwnerError(DomainError):
    code = "already_owner"


class LossAlreadyRequestedError(DomainError):
    code = "loss_already_requested"


class NoLossRequestedError(DomainError):
    code = "no_loss_requested"


class SameStageError(DomainError):
    code = "same_stage"


class StageOwnedByOrdersError(DomainError):
    """contract_signed and delivered are set by the orders service's events, never by hand."""

    code = "stage_owned_by_orders"


class AppointmentAlreadyClosedError(DomainError):
    code = "appointment_already_closed"


class SameTeamError(DomainError):
    code = "same_team"


# --- showroom floor: reception register and test drives ---


class OutreachBatchNotFoundError(DomainError):
    code = "outreach_batch_not_found"
    http_status = 404


class VisitNotFoundError(DomainError):
    code = "visit_not_found"
    http_status = 404


class VisitAlreadyDepartedError(DomainError):
    code = "visit_already_departed"


class TestDriveVehicleNotFoundError(DomainError):
    code = "test_drive_vehicle_not_found"
    http_status = 404


class TestDriveVehicleAlreadyExistsError(DomainError):
    code = "test_drive_vehicle_already_exists"


class TestDriveVehicleRetiredError(DomainError):
    code = "test_drive_vehicle_retired"


class TestDriveSlotTakenError(DomainError):
    """The vehicle is booked for part of the requested slot (no double booking)."""

    code = "test_drive_slot_taken"


class TestDriveNotFoundError(DomainError):
    code = "test_drive_not_found"
    http_status = 404


class TestDriveClosedError(DomainError):
    """The test drive was completed or missed: nothing more happens on it."""

    code = "test_drive_closed"


class TestDriveNotStartedError(DomainError):
    code = "test_drive_not_started"


class TestDriveAlreadyStartedError(DomainError):
    code = "test_drive_already_started"


class LicenceNotCheckedError(DomainError):
    """A test drive starts only after the driver's licence was checked and the waiver signed."""

    code = "licence_not_checked"


class AppointmentIsATestDriveError(DomainError):
    """A test drive booked on a fleet vehicle is closed through the booking, so the vehicle is freed with it."""

    code = "appointment_is_a_test_drive"


class CustomerNotFoundError(DomainError):
    code = "customer_not_found"
    http_status = 404


class PhoneBelongsToAnotherCustomerError(DomainError):
    """The new number is another customer's (a merge of two customers is not built)."""

    code = "phone_belongs_to_another_customer"


class SamePhoneError(DomainError):
    code = "same_phone"


class CampaignNotFoundError(DomainError):
    code = "campaign_not_found"
    http_status = 404


class CampaignCodeTakenError(DomainError):
    """Another campaign has the code (codes are what UTM ``utm_campaign`` values are matched against)."""

    code = "campaign_code_taken"
