from alembic import context

from tollgate.billing.config import Settings
from tollgate.billing.models import Base
from tollgate.shared.db import run_migrations_online

url = context.config.get_main_option("sqlalchemy.url") or Settings().database_url
run_migrations_online(Base.metadata, url)
