"""Which folder of submitted/ holds which account's work: the identity rule of `collect`.

- A student id (the folder name) is made from the name the channel wrote, by `safe_student_id`:
  ASCII letters and digits, lower case, at most 64 characters ('Ada Lovelace' -> ada_lovelace,
  Canvas login 'lovelacea' -> lovelacea). Names can collide; accounts cannot (lms.Account.key).
- Two accounts whose names give the same id ('José' and 'Jose', 'Casey' and 'Cåsey', full-width
  letters, two names cut at 64 characters) are two students: the first keeps the plain id, the next
  gets `<id>_2`, `<id>_3`, ..., and one line says who is where. No one's work is merged or dropped.
- submitted/<student>/.account.json remembers which account owns the folder, so a later collect
  (another assignment, a resubmission) puts each account in the same folder whatever order they come
  in; the record travels with its folder. A folder without one (made by hand or by an older collect)
  is taken by the first account whose id it is.
- A folder name of nbgrader's tree that already is a safe id is the course's own student id: it is
  used as it is (the exchange and the gradebook know the student by it).
- Moodle homonyms: two participant numbers with one full name in one assignment are two people; each
  goes to `<id>_<participant number>`. Moodle numbers participants per assignment, so which of them is
  which in another assignment cannot be read from the export: the line says so.
- A name with no letter a folder name can keep ('李明') gives `canvas_<user id>`, or
  `student_<8 hex digits of the name>` (the same name gives the same id every time).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import unicodedata
from pathlib import Path

from autograder.lms import Account, Upload, same_person_key

MARKER = ".account.json"   # in submitted/<student>/
MAX_ID = 64
_MAX_MARKER_BYTES = 65536


class AccountsError(Exception):
    """A submitted/<student>/.account.json cannot be used (one line)."""


def fold(raw: str) -> str:
    """`raw` as ASCII lower-case words joined by '_' (accents, full-width forms and case dropped)."""
    text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9.\-]+", "_", text).strip("._-")


def safe_student_id(raw: str) -> str:
    """A student id usable as one folder name: ASCII letters, digits, '.', '-' and '_', lower case."""
    return fold(raw)[:MAX_ID]


def _with_suffix(base: str, suffix: str) -> str:
    return base[: MAX_ID - len(suffix) - 1].rstrip("._-") + "_" + suffix


class AccountFolders:
    """The folder in submitted/ for each account (see the module docstring for the rule)."""

    def __init__(self, submitted: Path):
        self.submitted = Path(submitted)
        self.owners: dict[str, dict] = self._load()        # folder -> {"account", "name", "lms", "number"}
        self.by_key = {o["account"]: f for f, o in self.owners.items()}
        self.folders: dict[str, str] = {}                  # account key -> folder, this collect
        self.taken: dict[str, str] = {}                    # folder -> account key, this collect
        self.accounts: dict[str, Account] = {}

    def _load(self) -> dict[str, dict]:
        from autograder.safe_open import read_bytes

        owners = {}
        if not self.submitted.is_dir():
            return owners
        for folder in sorted(self.submitted.iterdir()):
            path = folder / MARKER
            try:
                if folder.is_symlink() or not folder.is_dir():
                    continue
                owner = json.loads(read_bytes(path, _MAX_MARKER_BYTES).decode("utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                raise AccountsError(f"{path} cannot be read, {exc}; it says which account owns the folder: "
                                    "restore it, or remove it if the folder is that account's") from None
            if not (isinstance(owner, dict) and isinstance(owner.get("account"), str)):
                raise AccountsError(f"{path} is not an account record: it has no 'account'")
            owners[folder.name] = owner
        return owners

    # -- deciding ----------------------------------------------------------------------------------
    def assign(self, uploads: list[Upload]) -> list[str]:
        """Set `upload.student` for every upload; the lines that tell the instructor about a name
        shared by several accounts or an account kept apart from an existing folder."""
        homonyms = self._split_homonyms(uploads)
        notes = []
        names: dict[str, set[str]] = {}
        for u in uploads:
            self.accounts.setdefault(u.account.key, u.account)
            names.setdefault(u.account.key, set()).add(u.account.name)

        def order(a: Account):  # a tree's own student id first, then a name that is its id already
            base = safe_student_id(a.name)
            return (base, not (a.lms == "nbgrader" and a.name == base), same_person_key(a.name) != base, a.key)

        for account in sorted(self.accounts.values(), key=order):
            folder, note = self._decide(account)
            self.folders[account.key] = folder
            self.taken.setdefault(folder, account.key)
            if note:
                notes.append(note)
        for u in uploads:
            u.student = self.folders[u.account.key]
        for key, seen in sorted(names.items()):
            if len({safe_student_id(n) for n in seen}) > 1:
                shown = " and ".join(repr(n) for n in sorted(seen))
                notes.append(f"{self.accounts[key].describe()} is named {shown} in this source: one "
                             f"account, so all of it is collected as {self.folders[key]}")
        for (name, assignment), keys in sorted(homonyms.items()):
            where = " and ".join(f"{self.accounts[k].number} as {self.folders[k]}" for k in sorted(keys))
            notes.append(f"{len(keys)} Moodle participants are named {name!r} in {assignment}, so each is "
                         f"collected apart: {where}; Moodle numbers participants per assignment, so match "
                         "them to their other assignments by hand")
        return notes

    @staticmethod
    def _split_homonyms(uploads: list[Upload]) -> dict[tuple[str, str], set[str]]:
        """Give Moodle participants who share a full name in one assignment keys of their own;
        {(name, assignment): their keys}."""
        numbers: dict[tuple[str, str], set[str]] = {}
        for u in uploads:
            if u.account.lms == "moodle":
                numbers.setdefault((u.account.key, u.assignment), set()).add(u.account.number)
        shared = {(key, n): a for (key, a), ns in numbers.items() if len(ns) > 1 for n in ns}
        groups: dict[tuple[str, str], set[str]] = {}
        for u in uploads:
            assignment = shared.get((u.account.key, u.account.number))
            if assignment is not None:
                u.account = dataclasses.replace(u.account, key=f"{u.account.key}#{u.account.number}")
                groups.setdefault((u.account.name, assignment), set()).add(u.account.key)
        return groups

    def _decide(self, account: Account) -> tuple[str, str | None]:
        if account.key in self.by_key:
            folder = self.by_key[account.key]
            recorded = self.owners[folder].get("name", "")
            if isinstance(recorded, str) and safe_student_id(recorded) != safe_student_id(account.name):
                return folder, (f"{account.describe()} was named {recorded!r} when first collected: "
                                f"its work goes to the account's folder, {folder}")
            return folder, None
        base = safe_student_id(account.name)
        note = None
        if not base:
            base = (f"canvas_{account.number}" if account.lms == "canvas" else
                    "student_" + hashlib.sha256(same_person_key(account.name).encode()).hexdigest()[:8])
            note = f"{account.describe()} has no letter a folder name can keep: collected as {base}"
        if account.lms == "nbgrader" and account.name == base:
            return base, None
        if "#" in account.key:  # a Moodle homonym
            base = _with_suffix(base, account.number)
        if self._free(base, account.key, plain=True):
            return base, note
        holder = self._holder(base)
        n = 2
        while not self._free(folder := _with_suffix(base, str(n)), account.key, plain=False):
            n += 1
        return folder, (f"{account.describe()} is collected as {folder}, apart from {holder}, "
                        f"whose folder {base} has the same name once accents, case and marks are dropped")

    def _free(self, folder: str, key: str, plain: bool) -> bool:
        owner = self.owners.get(folder, {}).get("account")
        if owner is not None and owner != key:
            return False
        if self.taken.get(folder, key) != key:
            return False
        # an unrecorded folder on disk is taken by the first account whose plain id it is
        return plain or owner == key or not os.path.lexists(self.submitted / folder)

    def _holder(self, folder: str) -> str:
        if folder in self.taken:
            return self.accounts[self.taken[folder]].describe()
        owner = self.owners.get(folder)
        if owner:
            return Account(owner.get("lms", ""), owner["account"], owner.get("name", ""),
                           owner.get("number", "")).describe() + " (an earlier collect)"
        return "a student collected before"

    # -- remembering -------------------------------------------------------------------------------
    def save(self, used_keys: set[str]) -> None:
        """Record the folder of each account in `used_keys` (those whose work was stored) in it."""
        for key in sorted(used_keys):
            folder = self.folders[key]
            if folder in self.owners or not (self.submitted / folder).is_dir():
                continue
            account = self.accounts[key]
            self.owners[folder] = {"account": key, "name": account.name, "lms": account.lms,
                                   "number": account.number}
            path = self.submitted / folder / MARKER
            tmp = path.with_name(MARKER + ".part")
            tmp.write_text(json.dumps(self.owners[folder], ensure_ascii=False) + "\n",
                           encoding="utf-8", errors="backslashreplace")
            os.replace(tmp, path)
