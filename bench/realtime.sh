#!/bin/sh
# The realtime watch's figures (issue 17), as root, from a checkout with the binaries built
# (cargo build --release; BIN=target/debug to use a debug build):
#   latency   setuid file created -> its event scan stored (from the daemon's log), p50/p99
#             over TRIALS trials (default 100) in a small root, then over LIVE_TRIALS (default
#             10) on the live root, where the targeted scan walks every local file system
#   churn     a writer (create, write 4 KB, chmod, unlink) on the root file system for
#             CHURN_SECS s (default 20), daemon off then on: writer ops/s, daemon CPU, events/s
#   unpack    100,000 files written into usr/ (and 500 into etc/) of the scanned root: event
#             scans caused, seconds from the last file to idle, the daemon's peak RSS
#   idle      the live host (root /, default collectors) for IDLE_SECS s (default 600): event
#             scans (must be 0)
# Prints one line per figure.
set -eu
BIN=${BIN:-target/release}
TRIALS=${TRIALS:-100}
CHURN_SECS=${CHURN_SECS:-20}
IDLE_SECS=${IDLE_SECS:-600}
[ "$(id -u)" = 0 ] || { echo "run as root (fanotify marks need CAP_SYS_ADMIN)" >&2; exit 2; }
[ -x "$BIN/dawgmond" ] || { echo "$BIN/dawgmond missing: cargo build --release" >&2; exit 2; }
echo "machine: $(nproc) CPUs, kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
exec python3 - "$BIN" "$TRIALS" "$CHURN_SECS" "$IDLE_SECS" <<'PY'
import json, os, re, shutil, subprocess, sys, tempfile, time

BIN, TRIALS, CHURN, IDLE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
LIVE = int(os.environ.get("LIVE_TRIALS", "10"))
BIN = os.path.abspath(BIN)

class Daemon:
    def __init__(self, root, collectors, extra=""):
        self.dir = tempfile.mkdtemp(prefix="dawgmon-rt-bench-", dir="/var/tmp")
        self.sock = os.path.join(self.dir, "s.sock")
        cfg = os.path.join(self.dir, "d.toml")
        with open(cfg, "w") as f:
            f.write(f'socket = "{self.sock}"\ndatabase = "{self.dir}/db/d.db"\nroot = "{root}"\n'
                    f'schedule = "off"\nretention = 0\nlog_target = "stderr"\n'
                    f'collectors = {json.dumps(collectors)}\n{extra}')
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.p = subprocess.Popen([f"{BIN}/dawgmond", "--config", cfg], stdout=self.log, stderr=self.log)
        for _ in range(300):
            if os.path.exists(self.sock) and self.ctl("status", ok=False) is not None:
                break
            time.sleep(0.1)
        for _ in range(100):
            if self.status()["realtime"]["mode"]:
                break
            time.sleep(0.1)

    def ctl(self, *args, ok=True):
        r = subprocess.run([f"{BIN}/dawgctl", "--socket", self.sock, *args], capture_output=True, text=True)
        if r.returncode != 0:
            if ok:
                raise SystemExit(f"dawgctl {args}: {r.stderr}")
            return None
        return r.stdout

    def status(self):
        return json.loads(self.ctl("status", "--format", "json"))

    def history(self):
        return json.loads(self.ctl("history", "--format", "json", "--limit", "100000"))

    def cpu(self):
        f = open(f"/proc/{self.p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def hwm_mb(self):
        for l in open(f"/proc/{self.p.pid}/status"):
            if l.startswith("VmHWM:"):
                return int(l.split()[1]) / 1024

    def stored(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def fake_root():
    r = tempfile.mkdtemp(prefix="dawgmon-rt-root-", dir="/var/tmp")
    os.makedirs(f"{r}/etc"); os.makedirs(f"{r}/var/tmp"); os.makedirs(f"{r}/usr")
    open(f"{r}/etc/passwd", "w").write("root:x:0:0:root:/root:/bin/sh\n")
    open(f"{r}/etc/group", "w").write("root:x:0:\n")
    return r

STORED = re.compile(r"^(\S+)Z .*scan (\d+) stored: .*trigger=\"event\"", re.M)

def ts(s):
    return time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0" + s[19:])

# --- latency -------------------------------------------------------------------------------
root = fake_root()
d = Daemon(root, ["list_suids"])
d.ctl("scan")
lat = []
for i in range(TRIALS):
    seen = len(STORED.findall(d.stored()))
    path = f"{root}/var/tmp/suid-{i}"
    t0 = time.time()
    with open(path, "w") as f:
        f.write("x")
    os.chmod(path, 0o4755)
    deadline = time.time() + 20
    while time.time() < deadline:
        hits = STORED.findall(d.stored())
        if len(hits) > seen:
            lat.append(ts(hits[seen][0]) - t0)
            break
        time.sleep(0.02)
    os.unlink(path)
    time.sleep(1.2)  # its removal's scan, so the next trial starts idle
if lat:
    print(f"latency: setuid file -> event scan stored, {len(lat)} trials: p50 {pct(lat,50):.2f} s, "
          f"p99 {pct(lat,99):.2f} s, max {max(lat):.2f} s", flush=True)
d.stop()

# --- latency on the live root: list_suids walks every local file system -------------------
live = []
d = Daemon("/", ["list_suids"]) if LIVE else None
if d:
    d.ctl("scan")
for i in range(LIVE):
    seen = len(STORED.findall(d.stored()))
    path = f"/var/tmp/dawgmon-rt-suid-{os.getpid()}-{i}"
    t0 = time.time()
    with open(path, "w") as f:
        f.write("x")
    os.chmod(path, 0o4755)
    deadline = time.time() + 60
    while time.time() < deadline:
        hits = STORED.findall(d.stored())
        if len(hits) > seen:
            live.append(ts(hits[seen][0]) - t0)
            break
        time.sleep(0.02)
    os.unlink(path)
    time.sleep(max(2.0, 5 * (live[-1] if live else 1)))
if live:
    print(f"latency (live root /, whole-system setuid walk), {len(live)} trials: p50 {pct(live,50):.2f} s, "
          f"max {max(live):.2f} s", flush=True)
if d:
    d.stop()

# --- churn A/B -----------------------------------------------------------------------------
def churn(secs):
    dirp = tempfile.mkdtemp(prefix="dawgmon-churn-", dir="/var/tmp")
    data, n, end = b"x" * 4096, 0, time.time() + secs
    while time.time() < end:
        for _ in range(100):
            p = f"{dirp}/f{n % 64}"
            fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
            os.write(fd, data); os.close(fd)
            os.chmod(p, 0o600)
            os.unlink(p)
            n += 1
    shutil.rmtree(dirp)
    return n / secs

off = churn(CHURN)
d = Daemon(root, ["list_suids", "check_etc"])
ev0, cpu0, t0 = d.status()["realtime"]["events"], d.cpu(), time.time()
on = churn(CHURN)
ev1, cpu1, t1 = d.status()["realtime"]["events"], d.cpu(), time.time()
print(f"churn: writer {off:.0f} ops/s off, {on:.0f} ops/s on ({(on/off-1)*100:+.1f}%); daemon CPU "
      f"{(cpu1-cpu0)/(t1-t0)*100:.1f}% of one core at {(ev1-ev0)/(t1-t0):.0f} events/s", flush=True)
d.stop()

# --- unpack --------------------------------------------------------------------------------
d = Daemon(root, ["list_suids", "check_etc"])
d.ctl("scan")
before = len(d.history())
t_start = time.time()
for i in range(100_000):
    sub = f"{root}/usr/share/bigpkg/d{i // 1000}"
    if i % 1000 == 0:
        os.makedirs(sub, exist_ok=True)
    with open(f"{sub}/f{i}", "w") as f:
        f.write("data\n")
os.makedirs(f"{root}/etc/bigpkg", exist_ok=True)
for i in range(500):
    with open(f"{root}/etc/bigpkg/c{i}.conf", "w") as f:
        f.write("k = v\n")
t_end = time.time()
idle_at = None
while time.time() < t_end + 120:
    s = d.status()
    if s["scan_in_progress"] is None:
        h = d.history()
        last = max((x for x in h if x["trigger"] in ("event", "overflow")), key=lambda x: x["id"], default=None)
        if last and time.time() - t_end > 6:
            idle_at = time.mktime(time.strptime(last["finished_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            break
    time.sleep(0.5)
h = d.history()
scans = [x for x in h if x["trigger"] in ("event", "overflow")]
print(f"unpack: 100,500 files in {t_end-t_start:.1f} s caused {len(scans)} scans "
      f"({sum(1 for x in scans if x['trigger']=='overflow')} overflow); idle "
      f"{(idle_at or time.time()) - t_end:.1f} s after the last file; peak RSS {d.hwm_mb():.0f} MB", flush=True)
d.stop()
shutil.rmtree(root, ignore_errors=True)

# --- idle ----------------------------------------------------------------------------------
d = Daemon("/", [], "")
time.sleep(IDLE)
h = d.history()
st = d.status()["realtime"]
print(f"idle: live host, default collectors, {IDLE} s: {sum(1 for x in h if x['trigger'] != 'request')} "
      f"event scans ({st['events']} events read, mode {st['mode']})")
d.stop()
PY
