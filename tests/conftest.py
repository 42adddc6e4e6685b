"""Plugins of the whole suite: tests/support/progress.py says which file and tier is running and
what each test starts (broker, worker, browser)."""

pytest_plugins = ["support.progress"]
