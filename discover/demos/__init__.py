"""Configurations of the demos that `discover demo` runs (package data)."""
