from alembic import context

from tollgate.shared.db import run_migrations_online
from tollgate.usage.config import Settings
from tollgate.usage.models import Base

url = context.config.get_main_option("sqlalchemy.url") or Settings().database_url
run_migrations_online(Base.metadata, url)
