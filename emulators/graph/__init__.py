"""A loopback stand-in for Microsoft Graph's calendar API and the identity platform.

See README.md: `run_graph_emulator()` starts it; tests drive it with msal and requests exactly
as against graph.microsoft.com and login.microsoftonline.com.
"""

from .control import ControlClient, ControlError
from .runner import GraphEmulator, NotLoopbackError, run_graph_emulator

__all__ = [
    "ControlClient",
    "ControlError",
    "GraphEmulator",
    "NotLoopbackError",
    "run_graph_emulator",
]
