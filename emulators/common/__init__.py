"""Plumbing shared by the emulators: control client, runner, CLI, HTTP(S) server, state file.

Only what is the same for every protocol lives here; what a protocol answers stays in its
package (`emulators.ews`, `emulators.graph`).
"""
