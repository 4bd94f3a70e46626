"""The orders domain: quotes (lines, discounts, revisions, acceptance, expiry) and orders (contract, payments,
financing, refunds, cancellation, delivery). Pure: no I/O, no clock — time and ids are arguments."""
