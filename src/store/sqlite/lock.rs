//! One server per database file: an exclusive lock on `<db>.lock`, taken before the
//! database is opened and held until the store's connection is closed.
//!
//! Two servers on one file would both work, each answering only its own waiters and
//! streams. The lock is `flock` on a file beside the database, not on the database: SQLite
//! takes POSIX `fcntl` locks on the database itself, which `flock` does not touch on
//! Linux but does on file systems that emulate one with the other (NFS). The lock file
//! holds the pid of its holder, for the message of the one refused; it is left in place
//! when the server stops, since deleting it would race the next server taking it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The lock file of the database at `db`. A symbolic link names the file it points to,
/// so that two names of one database share one lock.
pub(super) fn lock_path(db: &Path) -> PathBuf {
    let real = std::fs::canonicalize(db).unwrap_or_else(|_| {
        // Not created yet: the directory (which exists) is what may be a link.
        let dir = db.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        db.file_name()
            .map_or_else(|| db.to_path_buf(), |name| dir.join(name))
    });
    let mut name = real.into_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock of the database `db`, or says who holds it. The lock lasts as long as
/// the returned file is open (a killed server's lock goes with its process).
pub(super) fn acquire(db: &Path) -> anyhow::Result<File> {
    let path = lock_path(db);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot create the lock file {} beside the database (is the directory \
                 writable?)",
                path.display()
            )
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = holder_pid(&mut file)
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            bail!(
                "the database {} is in use by another assent serve{holder}: one SQLite \
                 database serves one server. Stop that server or pass another --db; to run \
                 several instances on one database, use the PostgreSQL store \
                 (--db postgres://…)",
                db.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot lock {} (the file system may not support locks; put the \
                     database on a local file system)",
                    path.display()
                )
            });
        }
    }
    // Best effort: the pid only improves the message a second server gives.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    Ok(file)
}

/// The pid the lock's holder wrote, if it has yet.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
