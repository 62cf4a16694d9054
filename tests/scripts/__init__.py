"""Helper programs the tests run (and import: `from scripts import tinyimage`)."""
