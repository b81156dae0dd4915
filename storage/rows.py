"""ORM objects from rows read with Core on a bare connection (no session).

A hot path that reads one row with a Core statement built once (far less Python than an ORM
session) may still hand an ORM object to code that expects one. :func:`detached` makes it
as a session that loaded the row and then closed would have left it: every column loaded,
nothing pending, its identity set (so joining a session later is an attach, never an
INSERT). It fills the instance's ``__dict__`` as the ORM's own loading does, not through
the constructor (which records each column as a change).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import configure_mappers, make_transient_to_detached

T = TypeVar("T")


def column_keys(cls: type) -> tuple[str, ...]:
    """The attribute names of ``cls``'s table columns, in the table's order (``select(table)``
    returns them so); an attribute named apart from its column is named as mapped."""
    mapper = inspect(cls)
    return tuple(mapper.get_property_by_column(c).key for c in mapper.local_table.c)


def detached(cls: type[T], keys: tuple[str, ...], values: Iterable[Any]) -> T:
    """An instance of the mapped ``cls`` holding ``values`` (a row's, in ``keys``' order:
    every column), detached."""
    mapper = inspect(cls)
    if not mapper.configured:  # as the ORM's first query or constructor would
        configure_mappers()
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(zip(keys, values))
    make_transient_to_detached(obj)
    return obj
