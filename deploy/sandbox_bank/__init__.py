"""The sandbox bank: plays the bank for a one-machine Debito (spec §4).

It reads the collection (pain.008.001.02) and payout (pain.001.001.03) files
the payments service writes into BANK_OUTBOX and answers, on the due date, with
the files a real bank would send into BANK_INBOX: pain.002.001.03 rejects and
camt.054.001.02 credits, returns, refunds and payout debits. It does not import
the payments package on purpose: it only knows the files.
"""
from pathlib import Path

from common.config import env, var_dir


def outbox_dir() -> Path:
    return Path(env("BANK_OUTBOX", var_dir() / "bank" / "outbox"))


def inbox_dir() -> Path:
    return Path(env("BANK_INBOX", var_dir() / "bank" / "inbox"))


def state_file() -> Path:
    return var_dir() / "bank" / "sandbox-state.json"
