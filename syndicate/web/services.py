"""What the web app needs, kept in ``app.extensions["syndicate"]``: the config, the
publisher, the holder of the Site being served and its reloader. No I/O.

Its own module so that the dashboard and the API find them without importing the app
factory, which imports them: imports in ``web`` go one way.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from ..config import Config
from .holder import LiveReloader, SiteHolder

if TYPE_CHECKING:
    from ..publisher import Publisher


#: The folder of the package's templates/ and static/, shared by the Flask app and the
#: dashboard's blueprint (they are the package's, not this subpackage's).
RESOURCES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Services:
    """What the app needs, kept in ``app.extensions["syndicate"]``."""

    config: Config
    publisher: Publisher | None  # None: the editors' API opens one when first asked
    holder: SiteHolder
    reloader: LiveReloader | None = None  # None: the live tree is not followed on its own


def services() -> Services:
    """The current app's services."""
    from flask import current_app

    found: Services = current_app.extensions["syndicate"]
    return found
