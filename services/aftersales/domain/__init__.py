"""The after-sales domain: care plans and return visits, complaints with SLAs, referrals and loyalty points.
Pure: time, ids and configuration come in as arguments."""
