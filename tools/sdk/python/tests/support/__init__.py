"""Helpers of the SDK's test suite: a real nullspaced, a local package index,
a severable TCP proxy, and a gate a build can wait on."""
