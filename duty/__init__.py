"""Duty: rotations, shifts, tip routing, acknowledgement and escalation."""
