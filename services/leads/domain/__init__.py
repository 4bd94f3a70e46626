"""The leads domain: leads, their grade and stage, and the rules that govern them. Pure: no I/O, no clock."""
