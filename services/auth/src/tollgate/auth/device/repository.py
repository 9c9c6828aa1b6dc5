from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import DeviceAuthorization


class DeviceAuthorizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def add(self, row: DeviceAuthorization) -> None:
        self.db.add(row)
        await self.db.flush()

    async def by_user_code(self, user_code: str) -> DeviceAuthorization | None:
        result = await self.db.scalar(
            select(DeviceAuthorization)
            .where(DeviceAuthorization.user_code == user_code)
            .with_for_update()
        )
        return result

    async def by_device_code_hash(self, code_hash: str) -> DeviceAuthorization | None:
        result = await self.db.scalar(
            select(DeviceAuthorization)
            .where(DeviceAuthorization.device_code_hash == code_hash)
            .with_for_update()
        )
        return result
