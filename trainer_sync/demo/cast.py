"""Who and where the demo is: its folder, provider, accounts and trainers."""

from __future__ import annotations

from pathlib import Path

#: Everything the demo keeps (store, mailboxes, its anchor date) is in the working
#: directory's `.demo/`, so a run elsewhere never touches the repository's.
DEMO_DIR = Path.cwd() / ".demo"
SEED_DIR = Path(__file__).resolve().parents[2] / "demo"
DOMAIN = "demo-training.test"
PROVIDER = "Demo Training"
SERVICE = "demo-ews"
MASTER = f"exchange-sync@{DOMAIN}"
PASSWORD_ENV = "TRAINER_SYNC_DEMO_PASSWORD"
MASTER_PASSWORD = "demo-master-pw"
TRAINER_PASSWORD = "demo-trainer-pw"
TRAINERS = ("ann", "ben", "cat")


def mailbox(name: str) -> str:
    """The mailbox of a demo trainer by first name, e.g. "ann"."""
    return f"{name}@{DOMAIN}"


#: Every mailbox the demo sets up: an emulator holding all of them is the demo's own.
ACCOUNTS = (MASTER, *(mailbox(name) for name in TRAINERS))
