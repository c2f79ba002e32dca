//! Durability: an append-only JSON-lines log of every write, compacted into a snapshot each time the
//! store opens. One line per write keeps each write atomic enough: a crash can only cut the last
//! line, which opening ignores.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Objects;

const LOG_FILE: &str = "objects.jsonl";

/// One write: the object as stored after it, or `None` when it was deleted. A record with no
/// resource only carries the resourceVersion counter.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Record {
    pub rv: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
}

pub(super) struct Log {
    file: File,
}

impl Log {
    /// Replays the log of `dir` into objects and the last resourceVersion, then rewrites it as a
    /// snapshot so it does not grow across restarts.
    pub fn open(dir: &Path) -> std::io::Result<(Log, Objects, u64)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let (objects, rv) = if path.exists() {
            replay(&path)?
        } else {
            (Objects::new(), 0)
        };
        let snapshot: PathBuf = dir.join(format!("{LOG_FILE}.tmp"));
        {
            let mut out = std::io::BufWriter::new(File::create(&snapshot)?);
            for (resource, items) in &objects {
                for ((namespace, name), object) in items {
                    let record = Record {
                        rv: super::object_rv(object),
                        resource: resource.clone(),
                        namespace: namespace.clone(),
                        name: name.clone(),
                        object: Some(Value::clone(object)),
                    };
                    write_line(&mut out, &record)?;
                }
            }
            write_line(
                &mut out,
                &Record {
                    rv,
                    resource: String::new(),
                    namespace: String::new(),
                    name: String::new(),
                    object: None,
                },
            )?;
            out.flush()?;
            out.get_ref().sync_all()?;
        }
        std::fs::rename(&snapshot, &path)?;
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok((Log { file }, objects, rv))
    }

    pub fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        // One write call per record, so a crash leaves at most a cut last line.
        self.file.write_all(&line)
    }
}

fn write_line(out: &mut impl Write, record: &Record) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}

fn replay(path: &Path) -> std::io::Result<(Objects, u64)> {
    let mut objects: Objects = BTreeMap::new();
    let mut rv = 0;
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        let Ok(record) = serde_json::from_str::<Record>(&line) else {
            // Only the last line can be cut short by a crash; nothing after it was written.
            tracing::warn!(path = %path.display(), "ignoring an unreadable line of the object log");
            continue;
        };
        rv = rv.max(record.rv);
        if record.resource.is_empty() {
            continue;
        }
        let items = objects.entry(record.resource).or_default();
        let key = (record.namespace, record.name);
        match record.object {
            Some(object) => {
                items.insert(key, Arc::new(object));
            }
            None => {
                items.remove(&key);
            }
        }
    }
    objects.retain(|_, items| !items.is_empty());
    Ok((objects, rv))
}
