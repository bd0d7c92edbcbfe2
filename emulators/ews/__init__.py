"""An Exchange Web Services (EWS) emulator: a real HTTP server speaking EWS SOAP on loopback.

Use `run_ews_emulator()` in tests and benchmarks; see README.md in this folder.
"""

from .control import ControlClient, ControlError
from .runner import EwsEmulator, NotLoopbackError, run_ews_emulator

__all__ = ["ControlClient", "ControlError", "EwsEmulator", "NotLoopbackError", "run_ews_emulator"]
