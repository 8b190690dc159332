"""Operator commands: the chat's operations without the chat (Zoom, recordings, publishing)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the operator subcommands to the `leap` parser."""
