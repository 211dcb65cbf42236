"""Class paths of release 0.1, so that the pickles it wrote keep loading.

ZODB records each object's class by module and name; these names resolve
to the classes' new homes in ``membership.model``. An object rewritten by
this release is stored under the new path. Nothing else imports this module.
"""

from .model.groups import Group, Groups, Members, Membership  # noqa: F401
from .model.root import Root  # noqa: F401
from .model.users import Token, User, Users  # noqa: F401
