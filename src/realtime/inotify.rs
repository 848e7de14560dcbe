//! The fallback where fanotify cannot run (a kernel before 5.9, no CAP_SYS_ADMIN, or
//! `realtime = "inotify"`): inotify on the key directories the collectors declare (and their
//! `.d` directories), through nix. It sees changes there, without the acting process; setuid
//! files elsewhere wait for the schedule.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::map::PathMap;
use super::{ATTRIB, CHANGED, Ctx, DIR, GONE, Touch, WRITTEN};

/// Directories watched at most (each watch is about 1 KiB of kernel memory).
const MAX_WATCHES: usize = 4096;

fn mask() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_DONT_FOLLOW
}

pub(super) struct Watcher {
    fd: Inotify,
    dirs: HashMap<WatchDescriptor, PathBuf>,
}

impl Watcher {
    pub fn new(map: &PathMap) -> Result<Watcher, String> {
        let fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| format!("inotify_init: {e}"))?;
        let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .map_or(MAX_WATCHES, |n| (n / 2).min(MAX_WATCHES));
        let mut w = Watcher {
            fd,
            dirs: HashMap::new(),
        };
        for dir in map.key_directories(limit) {
            if let Ok(wd) = w.fd.add_watch(&dir, mask()) {
                w.dirs.insert(wd, dir);
            }
        }
        if w.dirs.is_empty() {
            return Err("none of the key directories could be watched".into());
        }
        Ok(w)
    }

    pub fn watching(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .dirs
            .values()
            .map(|d| d.display().to_string())
            .collect();
        v.sort();
        v
    }

    pub fn run(mut self, ctx: &Ctx) {
        while !ctx.stop.load(Ordering::SeqCst) {
            if !super::poll_in(self.fd.as_fd().as_raw_fd(), 250) {
                continue;
            }
            std::thread::sleep(super::BATCH_PAUSE);
            let events = match self.fd.read_events() {
                Ok(e) => e,
                Err(nix::errno::Errno::EAGAIN) => continue,
                Err(e) => {
                    tracing::error!("realtime watch: reading inotify events failed: {e}");
                    super::overflowed(ctx, "reading the events failed");
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    continue;
                }
            };
            super::lock(&ctx.out.status).events += events.len() as u64;
            let mut touches = Vec::new();
            for e in events {
                if e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    super::overflowed(ctx, "the inotify queue overflowed");
                    continue;
                }
                let Some(dir) = self.dirs.get(&e.wd).cloned() else {
                    continue;
                };
                let real = match &e.name {
                    Some(n) => dir.join(n),
                    None => dir.clone(),
                };
                let mut flags = 0;
                if e.mask
                    .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
                {
                    flags |= CHANGED;
                }
                if e.mask.contains(AddWatchFlags::IN_CLOSE_WRITE) {
                    flags |= WRITTEN;
                }
                if e.mask.contains(AddWatchFlags::IN_ATTRIB) {
                    flags |= ATTRIB;
                }
                if e.mask
                    .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM)
                {
                    flags |= GONE;
                }
                if e.mask.contains(AddWatchFlags::IN_ISDIR) {
                    flags |= DIR;
                    // A directory made where the collectors read (a new .ssh, a new .d): watch it.
                    if flags & CHANGED != 0
                        && self.dirs.len() < MAX_WATCHES
                        && ctx
                            .map
                            .inside(&real)
                            .is_some_and(|p| !ctx.map.collectors_for(&p).is_empty())
                        && let Ok(wd) = self.fd.add_watch(&real, mask())
                    {
                        self.dirs.insert(wd, real.clone());
                    }
                }
                touches.push(Touch {
                    name: Vec::new(),
                    real,
                    dir: None,
                    flags,
                    pid: None,
                });
            }
            super::handle(ctx, touches);
        }
    }
}
