"""API pull clients, one module per vendor; CONNECTORS maps a UsageSource kind to its connector."""

from . import anthropic, cursor, github, openai
from .base import Connector

CONNECTORS: dict[str, Connector] = {
    c.kind: c for module in (anthropic, openai, cursor, github) for c in module.CONNECTORS
}
