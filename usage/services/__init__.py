"""Writes and workflows of the usage app (HackSoft-style services)."""
