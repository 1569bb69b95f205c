"""The release phase of examples/monorepo: a real migration of a SQLite database (db.sqlite3
beside this file). It runs once, before the other processes, which wait for its exit 0."""
import sqlite3

db = sqlite3.connect("db.sqlite3")
db.execute("CREATE TABLE IF NOT EXISTS visits (at TEXT NOT NULL)")
version = db.execute("PRAGMA user_version").fetchone()[0]
if version < 1:
    db.execute("ALTER TABLE visits ADD COLUMN path TEXT")
    db.execute("PRAGMA user_version = 1")
db.commit()
print(f"migrated db.sqlite3 from version {version} to 1")
