from datetime import date

import pytest

from tests.factories import EngineerFactory, TeamFactory

TODAY = date(2026, 11, 10)  # a Tuesday


@pytest.fixture
def org(db):
    """Engineering > Platform > Storage, with a manager over two engineers in Storage."""
    engineering = TeamFactory(name="Engineering")
    platform = TeamFactory(name="Platform", parent=engineering)
    storage = TeamFactory(name="Storage", parent=platform)
    applied = TeamFactory(name="Applied AI", parent=engineering)
    boss = EngineerFactory(email="boss@example.com", name="Bo Boss", team=platform)
    alice = EngineerFactory(email="alice@example.com", name="Alice Liddell", team=storage, manager=boss)
    bob = EngineerFactory(email="bob@example.com", name="Bob Dylan", team=storage, manager=boss)
    carol = EngineerFactory(email="carol@example.com", name="Carol King", team=applied)
    return type(
        "Org",
        (),
        {
            "engineering": engineering,
            "platform": platform,
            "storage": storage,
            "applied": applied,
            "boss": boss,
            "alice": alice,
            "bob": bob,
            "carol": carol,
        },
    )
