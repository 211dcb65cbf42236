"""Permission names: an enum, so a typo is an import error and not a silent deny."""

from enum import StrEnum


class Permission(StrEnum):
    VIEW = "view"
    EDIT = "edit"
    DELETE = "delete"
    MANAGE_MEMBERS = "manage-members"
    GRANT_OWNER = "grant-owner"
    CREATE_GROUP = "create-group"
    MANAGE_ACL = "manage-acl"
    VIEW_HISTORY = "view-history"
    CREATE_USER = "create-user"
    MANAGE_TOKENS = "manage-tokens"
    #: SCIM provisioning (``/scim/v2``), held on the root: admins have it, an operator
    #: grants it to a service user with an ACE on ``/``.
    PROVISION = "provision"


#: ``POST /checks``: granted to everyone logged in on that URL only (``model.Checks``);
#: each question is then decided on its own group or node. Not a ``Permission``: no
#: ACE names it, and no node's permission list shows it.
CHECK = "check"

#: Linking an identity makes someone else's tokens act as a user: only the admins hold it
#: (their ACE grants every permission; it is not one an ACE can grant, so not a
#: ``Permission``). ``POST``/``DELETE /users/{id}/identities`` and the UI's forms.
MANAGE_IDENTITIES = "manage-identities"

ROLES = ("member", "manager", "owner")

#: What each membership role grants on its group and, by ACL inheritance, below it.
ROLE_PERMISSIONS: dict[str, tuple[Permission, ...]] = {
    "member": (Permission.VIEW,),
    "manager": (Permission.VIEW, Permission.MANAGE_MEMBERS, Permission.CREATE_GROUP),
    "owner": (
        Permission.VIEW,
        Permission.MANAGE_MEMBERS,
        Permission.CREATE_GROUP,
        Permission.EDIT,
        Permission.DELETE,
        Permission.MANAGE_ACL,
        Permission.GRANT_OWNER,
        Permission.VIEW_HISTORY,
    ),
}

#: What a user may do on their own ``/users/<id>`` (``view-history``: the events
#: about them, such as password changes, tokens and memberships).
SELF_PERMISSIONS: tuple[Permission, ...] = (
    Permission.VIEW,
    Permission.EDIT,
    Permission.MANAGE_TOKENS,
    Permission.VIEW_HISTORY,
)
