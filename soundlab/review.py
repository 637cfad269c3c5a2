"""The review log: a person's decision on each flagged clip, kept in SQLite, and exported as corrected metadata.

Decisions (`DECISIONS`): the label is wrong (and which class it should be), a near-duplicate is confirmed, the clip
is fine, or unsure; each with an optional note, who made it and when (UTC). Every decision is kept (a history); the
latest per clip and kind is the one in effect.

The database (setting SOUNDLAB_REVIEW_DB, default ``.cache/review.db``) is safe under concurrent Streamlit sessions:
WAL mode (readers never block the writer), one writer at a time with a busy timeout, and retries when the file is
locked anyway; each decision is one transaction, so a killed process leaves the database consistent. A file that is
not a SoundLab review database gives a `ReviewError` naming it; the rest of the app keeps working.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from soundlab.errors import SoundLabError

DECISIONS = {"label_wrong": "label wrong", "duplicate": "near-duplicate confirmed", "fine": "fine", "unsure": "unsure"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    filename TEXT NOT NULL,
    kind TEXT NOT NULL,             -- label | near_duplicate | outlier | underperforming_group
    decision TEXT NOT NULL,         -- label_wrong | duplicate | fine | unsure
    new_label TEXT,                 -- the class it should be (category key), for label_wrong
    other_file TEXT,                -- the other clip of a near-duplicate pair
    note TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL,
    run_id TEXT,
    created_utc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_clip ON decisions (filename, kind, id);
"""
RETRIES = 8


class ReviewError(SoundLabError, RuntimeError):
    """The review database cannot be used (damaged, not a database, not writable); says which file."""


@dataclass(frozen=True)
class Decision:
    filename: str
    kind: str
    decision: str
    new_label: str | None = None
    other_file: str | None = None
    note: str = ""
    reviewer: str = ""
    run_id: str | None = None


def decision_text(decision: str, new_label: str | None, class_names: dict[str, str]) -> str:
    """A decision as the review table shows it: "label wrong → Rooster" (`class_names`: class key -> name)."""
    return DECISIONS[decision] + (f" → {class_names.get(new_label, new_label)}" if new_label else "")


def check_choice(decision: str | None, new_label: str | None, *, current_label: str | None, reviewer: str) -> str | None:
    """What is missing or contradictory in a decision a person is about to record (one sentence), or None."""
    if decision is None:
        return "Choose a decision first."
    if decision == "label_wrong" and not new_label:
        return "Choose the class the clip should have."
    if decision == "label_wrong" and new_label == current_label:
        return "That is the clip's label already; choose the class it should have instead."
    if not reviewer.strip():
        return "Type your name: it is kept with the decision."
    return None


class ReviewStore:
    """One SQLite file of decisions. Cheap to create: each call opens its own short connection (thread-safe)."""

    def __init__(self, path: Path, *, timeout_s: float = 10.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ReviewError(f"cannot create the folder of the review database {self.path}: {e.strerror or e}") from None
        self._run(lambda db: db.executescript(SCHEMA))  # a script is its own transaction (IF NOT EXISTS: idempotent)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
        return db

    def _run(self, fn, *, write: bool = False):
        """fn(connection) in one transaction, retried while the file is locked by another writer."""
        for attempt in range(RETRIES):
            try:
                with closing(self._connect()) as db:
                    if write:
                        db.execute("BEGIN IMMEDIATE")  # take the write lock now: one writer at a time
                    try:
                        out = fn(db)
                        if write:
                            db.execute("COMMIT")
                        return out
                    except BaseException:
                        if write and db.in_transaction:
                            db.execute("ROLLBACK")
                        raise
            except sqlite3.OperationalError as e:
                if "locked" in str(e) or "busy" in str(e):
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise ReviewError(f"the review database {self.path} cannot be used ({e})") from None
            except sqlite3.DatabaseError as e:
                raise ReviewError(f"{self.path} is not a usable review database ({e}): move it away (or set "
                                  "SOUNDLAB_REVIEW_DB to another file) and the app starts a new one") from None
        raise ReviewError(f"the review database {self.path} stayed locked by another writer; try again")

    def add(self, d: Decision) -> int:
        """Record a decision; returns its id."""
        if d.decision not in DECISIONS:
            raise ReviewError(f"unknown decision {d.decision!r}; one of {', '.join(DECISIONS)}")
        if d.decision == "label_wrong" and not d.new_label:
            raise ReviewError("a wrong label needs the class it should be")
        reviewer = d.reviewer.strip()
        if not reviewer:  # a decision is a person's, never recorded in the name of whoever runs the server
            raise ReviewError("a decision needs the name of the person who made it")
        now = datetime.now(UTC).isoformat(timespec="seconds")

        def insert(db):
            cur = db.execute("INSERT INTO decisions (filename, kind, decision, new_label, other_file, note, reviewer, "
                             "run_id, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (d.filename, d.kind, d.decision, d.new_label, d.other_file, d.note.strip(), reviewer,
                              d.run_id, now))
            return int(cur.lastrowid)

        return self._run(insert, write=True)

    def history(self) -> pd.DataFrame:
        """Every decision, newest first."""
        def read(db):
            return pd.read_sql_query("SELECT * FROM decisions ORDER BY id DESC", db)

        return self._run(read)

    def current(self) -> pd.DataFrame:
        """The decision in effect per (clip, kind): the latest."""
        def read(db):
            return pd.read_sql_query(
                "SELECT d.* FROM decisions d JOIN (SELECT filename, kind, MAX(id) AS id FROM decisions "
                "GROUP BY filename, kind) last ON d.id = last.id ORDER BY d.id DESC", db)

        return self._run(read)


def corrected_metadata(meta: pd.DataFrame, decisions: pd.DataFrame, class_of: dict[str, int]) -> pd.DataFrame:
    """ESC-50's metadata (the official columns) with the labels the review corrected, plus `original_category`,
    `original_target` and `review_note` columns. `decisions`: `ReviewStore.current()`; per clip the latest "label
    wrong" or "fine" counts, whatever kind of issue it was recorded under. `class_of` maps a category key to its
    target. A relabelled clip's `target`, `category` and `esc10` all follow its new class (`esc10` is True only for
    the ten ESC-10 classes). The result is what ``train --labels`` reads (`soundlab.data.protocol.read_labels`)."""
    out = meta[["filename", "fold", "target", "category", "esc10", "src_file", "take"]].copy()
    esc10_classes = set(meta.loc[meta["esc10"].astype(bool), "category"])
    out["original_category"], out["original_target"] = out["category"], out["target"]
    out["review_note"] = ""
    # per clip, the latest decision that says something about its label (under any kind): wrong -> which class, fine
    said = decisions[decisions["decision"].isin(["label_wrong", "fine"])].sort_values("id")
    wrong = said.drop_duplicates("filename", keep="last")
    wrong = wrong[wrong["decision"] == "label_wrong"]
    index = {f: i for i, f in enumerate(out["filename"])}
    for _, d in wrong.iterrows():
        i = index.get(d["filename"])
        if i is None or d["new_label"] not in class_of:
            continue
        out.iloc[i, out.columns.get_loc("category")] = d["new_label"]
        out.iloc[i, out.columns.get_loc("target")] = class_of[d["new_label"]]
        out.iloc[i, out.columns.get_loc("esc10")] = d["new_label"] in esc10_classes
        out.iloc[i, out.columns.get_loc("review_note")] = f"{d['reviewer']} {d['created_utc']}: {d['note']}".strip(": ")
    return out
