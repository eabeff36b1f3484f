"""Warnings and remarks found while reading the settings, kept until the toolkit has set up logging.

Logged earlier, they would print as plain, uncoloured lines unlike every other warning of the run.
"""

import logging
from dataclasses import dataclass


@dataclass(frozen=True)
class Notice:
    level: int  # logging.WARNING or logging.INFO
    message: str


def warning(message: str) -> Notice:
    return Notice(logging.WARNING, message)


def info(message: str) -> Notice:
    return Notice(logging.INFO, message)
