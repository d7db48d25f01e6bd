//! Reading what a run produced as hostile input: never through a link (a report file linked
//! to `/dev/zero` or to the user's keys) and never more than a stated limit (one endless line
//! must not take a service down). Every error names the limit, so the run's failure says
//! what happened.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path};

use tokio::io::{AsyncBufRead, AsyncBufReadExt as _};

/// Opens `file` for reading; fails (ELOOP) when it is a link.
pub fn open_nofollow(file: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(file)
}

/// Whether every directory from `root` down to the parent of `relative` is a real directory
/// (no link, nothing missing, no `..`): only then does `root.join(relative)` name something
/// below `root`.
pub fn parents_are_real(root: &Path, relative: &Path) -> bool {
    let mut dir = root.to_path_buf();
    let parent = relative.parent().unwrap_or(Path::new(""));
    parent.components().all(|component| {
        let Component::Normal(name) = component else {
            return false;
        };
        dir.push(name);
        dir.symlink_metadata().is_ok_and(|meta| meta.is_dir())
    })
}

/// The whole of the regular file `relative` below `root`, refused when it (or a directory on
/// the way) is a link, when it is not a regular file, or when it holds more than `limit`
/// bytes.
pub fn read_file_below(root: &Path, relative: &Path, limit: u64) -> io::Result<Vec<u8>> {
    if relative.is_absolute() || !parents_are_real(root, relative) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not below {} without links: not read", relative.display(), root.display()),
        ));
    }
    read_file(&root.join(relative), limit)
}

/// The whole of the regular file `file`, refused when it is a link, not a regular file (a
/// device, a pipe), or larger than `limit` bytes.
pub fn read_file(file: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let opened = open_nofollow(file)?;
    if !opened.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file: not read", file.display()),
        ));
    }
    let mut content = Vec::new();
    opened.take(limit + 1).read_to_end(&mut content)?;
    if content.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds more than {limit} bytes, the most read of it", file.display()),
        ));
    }
    Ok(content)
}

/// A line longer than a reader takes.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("a line of more than {limit} bytes, the most read of one line")]
    TooLong { limit: usize },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Like `read_until(b'\n')`, but fails once `line` would grow past `limit` bytes. Cancel
/// safe as `read_until` is: what was read stays in `line`.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, LineError> {
    let mut read = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(read);
        }
        let (used, ended) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (end + 1, true),
            None => (available.len(), false),
        };
        if line.len() + used > limit {
            return Err(LineError::TooLong { limit });
        }
        line.extend_from_slice(&available[..used]);
        reader.consume(used);
        read += used;
        if ended {
            return Ok(read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_read_whole_up_to_the_limit_and_refused_past_it() {
        let input: &[u8] = b"short\nexactly10\n";
        let mut reader = tokio::io::BufReader::with_capacity(4, input);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line, 10).await.unwrap(), 6);
        assert_eq!(line, b"short\n");
        line.clear();
        assert_eq!(read_line(&mut reader, &mut line, 10).await.unwrap(), 10);
        line.clear();
        assert_eq!(read_line(&mut reader, &mut line, 10).await.unwrap(), 0);

        let endless = tokio::io::repeat(b'x');
        let mut reader = tokio::io::BufReader::new(endless);
        let mut line = Vec::new();
        let err = read_line(&mut reader, &mut line, 1 << 20).await.unwrap_err();
        assert!(err.to_string().contains("1048576 bytes"), "{err}");
        assert!(line.len() <= 1 << 20);
    }

    #[test]
    fn files_are_read_only_when_real_regular_and_small_enough() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("reports"))?;
        std::fs::write(dir.path().join("reports/junit.xml"), "<testsuites/>")?;
        let read = read_file_below(dir.path(), Path::new("reports/junit.xml"), 100)?;
        assert_eq!(read, b"<testsuites/>");
        let err = read_file_below(dir.path(), Path::new("reports/junit.xml"), 5).unwrap_err();
        assert!(err.to_string().contains("more than 5 bytes"), "{err}");

        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.xml"))?;
        assert!(read_file_below(dir.path(), Path::new("zero.xml"), 100).is_err());
        assert!(read_file(Path::new("/dev/zero"), 100).is_err(), "a device is not read");
        std::os::unix::fs::symlink(dir.path().join("reports"), dir.path().join("linked"))?;
        assert!(read_file_below(dir.path(), Path::new("linked/junit.xml"), 100).is_err());
        assert!(read_file_below(dir.path(), Path::new("../x/junit.xml"), 100).is_err());
        Ok(())
    }
}
