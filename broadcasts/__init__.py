"""Coordinated-investigation notices: composing, audiences, fan-out planning, delivery state."""
