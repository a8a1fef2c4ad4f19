"""mailbot: answers data-protection rights requests that arrive by email."""

__version__ = "0.1.0"
