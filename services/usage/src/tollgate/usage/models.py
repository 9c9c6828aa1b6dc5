"""Tables of the usage service."""

from sqlalchemy.orm import DeclarativeBase

from tollgate.shared.db import new_metadata
from tollgate.shared.messaging import messaging_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = messaging_tables(Base.metadata)
