"""Names, units and roles of the dataset container, and the error every data check raises."""

from __future__ import annotations

from collections.abc import Mapping

from discover.errors import UserError

ROLES = ("forcing", "observation", "attribute")

#: Standard variable names and the unit each must carry in the container.
STANDARD_UNITS: Mapping[str, str] = {
    "precipitation": "mm/day",
    "temperature": "degC",
    "temperature_min": "degC",
    "temperature_max": "degC",
    "pet": "mm/day",
    "streamflow": "mm/day",
    "area": "km2",
    "latitude": "degrees_north",
    "longitude": "degrees_east",
    "elevation": "m",
}

#: Role of each standard name; other names are forcings unless a loader says otherwise.
STANDARD_ROLES: Mapping[str, str] = {
    "precipitation": "forcing",
    "temperature": "forcing",
    "temperature_min": "forcing",
    "temperature_max": "forcing",
    "pet": "forcing",
    "streamflow": "observation",
    "area": "attribute",
    "latitude": "attribute",
    "longitude": "attribute",
    "elevation": "attribute",
}

#: Values that data providers use for "missing" (CAMELS-US uses -999).
SENTINELS = (-999.0, -9999.0)


def role_of(name: str, default: str = "forcing") -> str:
    """Role of a variable name: its standard role, else ``default``."""
    return STANDARD_ROLES.get(name, default)


class DataError(UserError):
    """Bad input data; the message names the place (file, variable, site, time)."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        variable: str | None = None,
        site: str | None = None,
        time: object | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.variable = variable
        self.site = site
        self.time = time
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.variable is not None:
            where.append(f"variable {self.variable!r}")
        if self.site is not None:
            where.append(f"site {self.site!r}")
        if self.time is not None:
            where.append(f"time {str(self.time)[:10]}")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem

    def located(self, file: str | None) -> DataError:
        """The same error with the file it came from (kept if already known)."""
        if file is None or self.file is not None:
            return self
        return DataError(
            self.problem, file=file, variable=self.variable, site=self.site, time=self.time
        )
