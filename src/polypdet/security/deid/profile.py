"""DICOM PS3.15 Table E.1-1, Basic Application Level Confidentiality Profile: the action for each attribute.

The table itself comes from ``dicom-anonymizer``, which keeps it generated from the standard's part15.xml. Its
action functions are not used (they act on top-level attributes only and draw random UIDs); ours are in
:mod:`polypdet.security.deid.dicom`.

Composite actions resolve to the choice that stays valid for every IOD without keeping any value:
``Z/D``, ``X/D`` and ``X/Z/D`` → ``D`` (a dummy satisfies Type 1); ``X/Z`` → ``Z``; ``X/Z/U*`` → ``U*`` (keep the
sequence, replace the instance UIDs inside it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from pydicom.tag import BaseTag

TABLE_VERSION = "2026c"


class Action(StrEnum):
    DUMMY = "D"
    EMPTY = "Z"
    REMOVE = "X"
    REPLACE_UID = "U"
    REPLACE_UIDS_INSIDE = "U*"


_CATEGORY_ACTIONS = {
    "D_TAGS": Action.DUMMY,
    "Z_TAGS": Action.EMPTY,
    "X_TAGS": Action.REMOVE,
    "U_TAGS": Action.REPLACE_UID,
    "Z_D_TAGS": Action.DUMMY,
    "X_Z_TAGS": Action.EMPTY,
    "X_D_TAGS": Action.DUMMY,
    "X_Z_D_TAGS": Action.DUMMY,
    "X_Z_U_STAR_TAGS": Action.REPLACE_UIDS_INSIDE,
}


@dataclass(frozen=True)
class TagRange:
    """A repeating group such as curves ``(50xx,xxxx)``: a tag matches when its masked bits equal the pattern's."""

    group: int
    element: int
    group_mask: int
    element_mask: int
    action: Action

    def matches(self, tag: BaseTag) -> bool:
        return (tag.group & self.group_mask) == (self.group & self.group_mask) and (
            tag.element & self.element_mask
        ) == (self.element & self.element_mask)


@dataclass(frozen=True)
class BasicProfile:
    actions: dict[int, Action]
    ranges: tuple[TagRange, ...]

    def action_for(self, tag: BaseTag) -> Action | None:
        """The profile's action, or ``None`` for attributes the profile keeps."""
        action = self.actions.get(int(tag))
        if action is not None:
            return action
        return next((r.action for r in self.ranges if r.matches(tag)), None)


@cache
def basic_profile() -> BasicProfile:
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    table = dicom_anonymization_database_selector(f"dicomfields_{TABLE_VERSION}")
    actions: dict[int, Action] = {}
    ranges: list[TagRange] = []
    for category, action in _CATEGORY_ACTIONS.items():
        for entry in table[category]:
            if len(entry) == 2:
                actions[(entry[0] << 16) | entry[1]] = action
            else:
                group, element, group_mask, element_mask = entry
                ranges.append(TagRange(group, element, group_mask, element_mask, action))
    return BasicProfile(actions, tuple(ranges))
