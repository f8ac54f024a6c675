"""Small fake servers the tests own (besides the fake Bot API in tests/fakebot)."""
