"""Test fixtures shared by the unit tests, the integration tests and scripts/board_screenshot.py.

Kept out of the wheel: :mod:`tests.support.demo` builds status and audit values through the
contract models (``opel.contracts``), :mod:`tests.support.local_stack` wires the API and the
board to a broker without a worker.
"""
