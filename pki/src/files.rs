//! Reading and writing certificate files: errors that name the file, keys written 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::PkiError;

/// Who may read a file we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrecy {
    /// A certificate: readable as the umask allows.
    Public,
    /// A private key: owner only (0600 on unix).
    Secret,
}

/// Reads a whole text file.
pub(crate) fn read_text(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|error| PkiError::Read {
        path: path.to_owned(),
        error,
    })
}

/// Creates `dir` and its parents if they are missing.
pub(crate) fn create_dir(dir: &Path) -> Result<(), PkiError> {
    fs::create_dir_all(dir).map_err(|error| PkiError::Write {
        path: dir.to_owned(),
        error,
    })
}

/// Writes a file that must not exist yet; the error is `AlreadyExists` if it does.
pub(crate) fn write_new(path: &Path, contents: &str, secrecy: Secrecy) -> io::Result<()> {
    let mut file = open_new(path, secrecy)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Writes a file, replacing any old one at once: a reader sees the old or the new content,
/// and a replaced key ends up 0600 whatever the old file's mode was.
pub(crate) fn write_replacing(
    path: &Path,
    contents: &str,
    secrecy: Secrecy,
) -> Result<(), PkiError> {
    let write_error = |error| PkiError::Write {
        path: path.to_owned(),
        error,
    };
    let file_name = path.file_name().ok_or_else(|| {
        write_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        ))
    })?;
    let mut temp_name = file_name.to_owned();
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    match fs::remove_file(&temp) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(write_error(error)),
    }
    let written = write_new(&temp, contents, secrecy).and_then(|()| fs::rename(&temp, path));
    if let Err(error) = written {
        // Best effort: the write already failed, and that is the error worth reporting.
        let _ = fs::remove_file(&temp);
        return Err(write_error(error));
    }
    Ok(())
}

#[cfg(unix)]
fn open_new(path: &Path, secrecy: Secrecy) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;

    let mode = match secrecy {
        Secrecy::Public => 0o644,
        Secrecy::Secret => 0o600,
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

#[cfg(not(unix))]
fn open_new(path: &Path, _secrecy: Secrecy) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}
